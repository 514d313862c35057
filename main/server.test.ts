import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { decodeWire, encodeWire, startWebServer } from './server.ts';

const dir = mkdtempSync(join(tmpdir(), 'hostbox-web-'));
writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Hostbox</title>');
writeFileSync(join(dir, 'app.js'), 'console.log(1)');

async function withServer(f: (s: { url: string; token: string; base: string }) => Promise<void>): Promise<void> {
  const events = new Set<(e: unknown) => void>();
  const api = {
    async echo(x: unknown) {
      for (const l of events) l({ type: 'echoed', x });
      return x;
    },
    async secret() {
      return 'should never be reachable';
    },
  };
  const s = await startWebServer({ rendererDir: dir, api, methods: ['echo'], subscribe: (l) => (events.add(l), () => events.delete(l)) });
  try {
    await f({ url: s.url, token: s.token, base: s.url.split('?')[0]! });
  } finally {
    await s.close();
  }
}

test('every request needs the token; the page URL sets a cookie for its assets', async () => {
  await withServer(async ({ url, base, token }) => {
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{20,}$/);
    assert.equal((await fetch(base)).status, 403);
    assert.equal((await fetch(base + 'app.js')).status, 403);
    assert.equal((await fetch(base + '?token=wrong' + token.slice(5))).status, 403);
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /Hostbox/);
    const cookie = page.headers.get('set-cookie')!.split(';')[0]!;
    const asset = await fetch(base + 'app.js', { headers: { cookie } });
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get('content-type')!, /javascript/);
    assert.equal((await fetch(base + '..%2f..%2fetc%2fpasswd', { headers: { cookie } })).status, 404);
  });
});

test('the WebSocket needs the token and runs only allow-listed methods', async () => {
  await withServer(async ({ base, token }) => {
    const wsBase = base.replace('http', 'ws') + 'api';
    const refused = new WebSocket(wsBase);
    const err = await new Promise<string>((r) => refused.on('error', (e) => r(String(e.message))));
    assert.match(err, /403/);
    const ws = new WebSocket(`${wsBase}?token=${token}`);
    await new Promise((r) => ws.on('open', r));
    const replies: unknown[] = [];
    ws.on('message', (m) => replies.push(decodeWire(m.toString())));
    ws.send(encodeWire({ id: 1, method: 'echo', params: [new Uint8Array([1, 2, 3])] }));
    ws.send(encodeWire({ id: 2, method: 'secret', params: [] }));
    ws.send('not json');
    while (replies.length < 4) await new Promise((r) => setTimeout(r, 10));
    ws.close();
    const byId = (id: unknown) => replies.find((r) => (r as { id?: unknown }).id === id) as Record<string, unknown>;
    assert.deepEqual(byId(1).result, new Uint8Array([1, 2, 3]));
    assert.match(String(byId(2).error), /unknown method secret/);
    assert.ok(replies.some((r) => (r as { event?: unknown }).event), 'host events are pushed');
    assert.match(String(byId(null).error), /not JSON/);
  });
});
