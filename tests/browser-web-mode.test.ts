// Web mode in a real browser (Debian's Chromium through playwright-core): the renderer built by Vite,
// served with its token, talking to the host API over the WebSocket. The VMM is a stand-in that echoes
// serial input, so this runs in seconds; booting the real guest is tests/guest-boot.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { createHostApi, type VmmLauncher } from '../main/api.ts';
import { startWebServer } from '../main/server.ts';

const root = new URL('..', import.meta.url).pathname;
const rendererDir = join(root, 'dist', 'renderer');
const artifacts = join(root, 'test-artifacts');
const skip = !existsSync('/usr/bin/chromium') ? 'Chromium is not installed (apt-get install chromium)' : !existsSync(join(rendererDir, 'index.html')) ? 'the renderer is not built (npm run build)' : false;

/** Echoes serial input like a shell's terminal and answers "uname -r". */
const echoLauncher: VmmLauncher = async (spec, handlers) => {
  if (!existsSync(spec.kernelPath!)) throw new Error(`kernel ${spec.kernelPath} does not exist`);
  const say = (s: string): void => handlers.serial(0, new TextEncoder().encode(s));
  setTimeout(() => say('HOSTBOX-GUEST-READY\r\n/ # '), 50);
  let line = '';
  return {
    sendSerial(_p, data) {
      const s = new TextDecoder().decode(data);
      say(s.replace(/\r/g, '\r\n'));
      line += s;
      if (line.includes('\r')) {
        if (line.startsWith('uname -r')) say('6.1.0-test\r\n');
        say('/ # ');
        line = '';
      }
    },
    sendKeys() {},
    reset() {},
    async stop() {
      handlers.state('stopped');
    },
  };
};

test('web mode: the page, the New VM form with validation, a VM console, power off', { skip, timeout: 120_000 }, async () => {
  const host = createHostApi({ launcher: echoLauncher });
  const server = await startWebServer({ rendererDir, api: host.api, methods: host.methods, subscribe: host.subscribe });
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(server.url);
    await page.getByText('New virtual machine').waitFor();
    // Validation shows next to the field and nothing starts.
    await page.fill('input[name=memory]', '0');
    await page.click('button[type=submit]');
    await page.getByText('Memory must be 4 to 3072 MiB.').waitFor();
    await page.fill('input[name=memory]', '256');
    await page.click('button[type=submit]');
    await page.getByText('Give the path of a Linux bzImage.').waitFor();
    await page.fill('input[name=kernel]', '/nonexistent/vmlinuz');
    await page.click('button[type=submit]');
    await page.getByText('kernel /nonexistent/vmlinuz does not exist').waitFor();
    assert.equal((await host.api.listVms()).length, 0);
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'web-new-vm.png') });
    // A real file path starts the (stand-in) VM and opens its console.
    const kernel = join(artifacts, 'fake-vmlinuz');
    writeFileSync(kernel, 'x');
    await page.fill('input[name=kernel]', kernel);
    await page.click('button[type=submit]');
    await page.locator('.xterm-rows', { hasText: '/ #' }).waitFor();
    await page.locator('.chip-running').first().waitFor();
    await page.locator('[data-testid=serial-console]').click();
    await page.keyboard.type('uname -r');
    await page.keyboard.press('Enter');
    await page.locator('.xterm-rows', { hasText: '6.1.0-test' }).waitFor();
    await page.screenshot({ path: join(artifacts, 'web-console.png') });
    await page.getByRole('button', { name: 'Power off' }).click();
    await page.locator('.vm-header .chip-stopped').waitFor();
    assert.equal((await host.api.listVms())[0]!.power, 'stopped');
  } finally {
    await browser.close();
    await host.close();
    await server.close();
  }
});
