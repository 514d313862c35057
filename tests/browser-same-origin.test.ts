// Same-origin only, in a real browser (Debian's Chromium): after the Hostbox page has been opened
// (so the browser holds its cookie), a page served on another local port, which is the same *site*
// and so gets that cookie sent along, can neither open the API socket nor frame the app. The page's
// own token leaves the address bar after the first load, and a reload still works through the cookie.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHostApi } from '../main/api.ts';
import { startWebServer } from '../main/server.ts';
import { paramsProblem } from '../main/api-params.ts';
import type { HostApi } from '../main/api-types.ts';
import { fakeVmmLauncher } from '../main/fake-vmm-launcher.ts';
import { browserSkipReason, launchChromium, rendererDir } from './browser-support.ts';

test('a page on another local port cannot use the API socket or frame the app; the token leaves the address bar', { skip: browserSkipReason(), timeout: 120_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hostbox-origin-'));
  const host = createHostApi({ dataDir, launcher: fakeVmmLauncher() });
  const server = await startWebServer({
    rendererDir,
    api: host.api,
    methods: host.methods,
    checkParams: (m, p) => paramsProblem(m as keyof HostApi, p),
    subscribe: host.subscribe,
  });
  const app = `http://127.0.0.1:${server.port}`;
  // The other page: it tries the socket with the browser's cookie alone, then even with the token.
  const evil = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><title>other</title>
<iframe id="f" src="${app}/"></iframe>
<script>
  function tryApi(url) {
    return new Promise((resolve) => {
      const ws = new WebSocket(url);
      ws.onopen = () => resolve('open');
      ws.onerror = () => resolve('refused');
    });
  }
  window.frameLoaded = new Promise((r) => document.getElementById('f').addEventListener('load', () => r(true)));
</script>`);
  });
  await new Promise<void>((r) => evil.listen(0, '127.0.0.1', () => r()));
  const evilPort = (evil.address() as { port: number }).port;
  const browser = await launchChromium();
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(server.url);
    await page.getByText('No VMs yet').waitFor();
    assert.equal(page.url(), `${app}/`, 'the token is taken out of the address bar');
    // The history entry was replaced, not added to: back is the blank page, forward the address without the token.
    await page.goBack();
    assert.equal(page.url(), 'about:blank');
    await page.goForward();
    assert.equal(page.url(), `${app}/`, 'no history entry keeps the token');
    // A reload has no token in its address: the cookie carries it, to the page and to the socket.
    await page.reload();
    await page.getByText('No VMs yet').waitFor();
    assert.ok((await context.cookies(app)).some((c) => c.name === `hostbox_token_${server.port}`));

    const other = await context.newPage();
    await other.goto(`http://127.0.0.1:${evilPort}/`);
    assert.equal(await other.evaluate((u) => (window as unknown as { tryApi(u: string): Promise<string> }).tryApi(u), `ws://127.0.0.1:${server.port}/api`), 'refused');
    assert.equal(await other.evaluate((u) => (window as unknown as { tryApi(u: string): Promise<string> }).tryApi(u), `ws://127.0.0.1:${server.port}/api?token=${server.token}`), 'refused');
    // The same call from the app's own page works, so the refusals above are about the origin.
    assert.equal(
      await page.evaluate((u) => new Promise<string>((resolve) => {
        const ws = new WebSocket(u);
        ws.onopen = () => resolve('open');
        ws.onerror = () => resolve('refused');
      }), `ws://127.0.0.1:${server.port}/api`),
      'open',
    );
    // The frame loads, but not the app: the browser refuses to show it (frame-ancestors 'none', X-Frame-Options).
    await other.evaluate(() => (window as unknown as { frameLoaded: Promise<boolean> }).frameLoaded);
    const frame = other.frames().find((f) => f !== other.mainFrame())!;
    assert.ok(frame, 'the iframe exists');
    assert.notEqual(frame.url(), `${app}/`, `the app's page must not load in a frame (frame at ${frame.url()})`);
    assert.equal(await frame.locator('text=New virtual machine').count(), 0);
  } finally {
    await browser.close();
    await server.close();
    await host.close();
    await new Promise((r) => evil.close(r));
    rmSync(dataDir, { recursive: true, force: true });
  }
});
