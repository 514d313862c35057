// A bounded fuzz of the web-mode server on loopback, with a VM running behind it: random paths and
// percent-encodings, random methods and headers, garbage on the TCP socket, random API messages,
// raw WebSocket frames that break the protocol, oversized messages and more connections than allowed.
// Afterwards the server still answers and the VM is still running and answering on its console.
// The seed is printed on failure; HOSTBOX_FUZZ_SEED replays one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { createHostApi } from '../main/api.ts';
import { paramsProblem } from '../main/api-params.ts';
import type { HostApi } from '../main/api-types.ts';
import { FAKE_RELEASE, fakeVmmLauncher } from '../main/fake-vmm-launcher.ts';
import { decodeWire, encodeWire, startWebServer } from '../main/server.ts';
import { fakeBzImage } from '../vmm/boot/fake-bzimage.ts';

const seed = Number(process.env.HOSTBOX_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
let state = seed >>> 0 || 1;
/** xorshift32: small, seeded, good enough to pick test inputs. */
function rnd(n: number): number {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  state >>>= 0;
  return state % n;
}
const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)]!;
function bytes(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rnd(256);
  return b;
}

function randomPath(token: string): string {
  const parts: string[] = [];
  for (let i = rnd(6); i >= 0; i--) {
    parts.push(
      pick([
        () => encodeURIComponent(bytes(rnd(8)).toString('latin1')),
        () => '%' + pick(['', 'E0', 'E0%A4%A', 'ZZ', 'C0%AF', 'FF', '00', 'F4%90%80%80']),
        () => '..',
        () => '.%2e',
        () => 'index.html',
        () => '%2F..%2F..%2Fetc%2Fpasswd',
        () => 'x'.repeat(rnd(4000)),
        () => '\u00e9\u4e2d',
      ])(),
    );
  }
  const query = pick(['', `?token=${token}`, '?token=', `?token=${token}x`, '?token=%', '?&&==&token']);
  return '/' + parts.join('/') + query;
}

/**
 * One raw HTTP exchange; resolves with the status line (or '' if the server just closed), never
 * rejects. A request is written without closing our side (Node's server drops the answer to a
 * client that half-closes before it comes); bytes that are no request are followed by our close.
 */
function rawHttp(port: number, request: Buffer | string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => (typeof request === 'string' ? s.write(request) : s.end(request)));
    let got = '';
    s.setTimeout(5000, () => s.destroy());
    s.on('data', (c) => (got += c.toString('latin1')));
    s.on('close', () => resolve(got.split('\r\n')[0] ?? ''));
    s.on('error', () => resolve(got.split('\r\n')[0] ?? ''));
  });
}

/** Completes a WebSocket handshake by hand, then writes `frames` raw; resolves when the server has closed. */
function rawWebSocket(port: number, token: string, frames: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () =>
      s.write(
        `GET /api?token=${token} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nOrigin: http://127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
    );
    let got = '';
    let sent = false;
    // A frame cut short leaves the server waiting for the rest, as for any slow client: give up on it.
    s.setTimeout(1000, () => s.destroy());
    s.on('data', (c) => {
      got += c.toString('latin1');
      if (!sent && got.includes('\r\n\r\n')) {
        sent = true;
        s.write(frames);
      }
    });
    s.on('close', () => resolve(got.split('\r\n')[0] ?? ''));
    s.on('error', () => resolve(got.split('\r\n')[0] ?? ''));
  });
}

/** A client-to-server frame (masked, as the protocol wants) with chosen header bits. */
function frame(first: number, payload: Buffer, masked = true): Buffer {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([first, (masked ? 0x80 : 0) | len]) : Buffer.from([first, (masked ? 0x80 : 0) | 126, len >> 8, len & 0xff]);
  if (!masked) return Buffer.concat([head, payload]);
  const mask = bytes(4);
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([head, mask, body]);
}

function randomMessage(methods: readonly string[]): string {
  const value = (): unknown =>
    pick([null, true, 0, -1, 1e308, NaN, '', 'x'.repeat(rnd(100)), [], {}, { $bytes: 'AAAA' }, { $bytes: '!!' }, [1, 2, 3], { name: 'fuzz', memoryMiB: 'many' }, { __proto__: { admin: true } }]);
  return pick([
    () => 'null',
    () => bytes(rnd(64)).toString('latin1'),
    () => JSON.stringify(value()),
    () => JSON.stringify({ id: value(), method: pick([...methods, 'constructor', '__proto__', 'then', 'close', '']), params: pick([undefined, value(), [value()], [value(), value()], [value(), value(), value()]]) }),
    () => '{"id":1,"method":"listVms","params":[]' + '}'.repeat(rnd(3)),
    () => '['.repeat(rnd(2000)),
  ])();
}

test('fuzzing the web server leaves it answering and a running VM running', { timeout: 120_000 }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hostbox-fuzz-'));
  const kernel = join(dataDir, '..', `${dataDir.split('/').pop()}-vmlinuz`);
  writeFileSync(kernel, fakeBzImage());
  const rendererDir = mkdtempSync(join(tmpdir(), 'hostbox-fuzz-ui-'));
  writeFileSync(join(rendererDir, 'index.html'), '<!doctype html><title>Hostbox</title>');
  const host = createHostApi({ dataDir, launcher: fakeVmmLauncher() });
  const server = await startWebServer({
    rendererDir,
    api: host.api,
    methods: host.methods,
    checkParams: (m, p) => paramsProblem(m as keyof HostApi, p),
    subscribe: host.subscribe,
  });
  const { port, token } = server;
  const origin = `http://127.0.0.1:${port}`;
  t.diagnostic(`seed ${seed}`);
  try {
    const created = await host.api.createVm({ ...(await host.api.defaultSettings()), name: 'Survivor', kernelPath: kernel });
    assert.ok(created.ok);
    const vm = created.vm.id;
    await host.api.powerOn(vm);

    // HTTP: random paths, methods and headers, and bytes that are not HTTP at all.
    for (let i = 0; i < 150; i++) {
      const method = pick(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'PATCH', 'FOO', 'G\u00c9T']);
      const hostHeader = pick([`127.0.0.1:${port}`, `localhost:${port}`, 'evil.example', '', `127.0.0.1:${port}\r\nX-Injected: 1`]);
      const extra = pick(['', `Origin: http://127.0.0.1:${port + 1}\r\n`, `Cookie: hostbox_token_${port}=${token}\r\n`, 'Cookie: ;;;=\r\n', `Content-Length: ${rnd(100)}\r\n`, 'Transfer-Encoding: chunked\r\n']);
      const line = rnd(10) === 0 ? bytes(rnd(200)) : `${method} ${randomPath(token)} HTTP/1.1\r\nHost: ${hostHeader}\r\n${extra}Connection: close\r\n\r\n${'x'.repeat(rnd(50))}`;
      const status = await rawHttp(port, line);
      assert.ok(status === '' || /^HTTP\/1\.1 (200|400|403|404|405|413|414|431|501)\b/.test(status), `request ${i}: ${status}`);
    }

    // API messages: random shapes, methods and arguments over one socket; every one is answered.
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api?token=${token}`, { origin });
    await new Promise((r, j) => (ws.on('open', r), ws.on('error', j)));
    let answered = 0;
    ws.on('message', (m) => {
      const msg = decodeWire(m.toString()) as { event?: unknown };
      if (!msg.event) answered++;
    });
    const sent = 300;
    for (let i = 0; i < sent; i++) ws.send(randomMessage(host.methods));
    const end = Date.now() + 20_000;
    while (answered < sent && Date.now() < end && ws.readyState === ws.OPEN) await new Promise((r) => setTimeout(r, 10));
    assert.equal(ws.readyState, ws.OPEN, 'text messages of any content get answers, not a closed socket');
    assert.equal(answered, sent);
    ws.close();

    // Frames that break the WebSocket protocol: the server closes that socket, nothing else.
    for (let i = 0; i < 30; i++) {
      const payload = bytes(rnd(300));
      const frames = pick([
        () => frame(0x81, Buffer.from([0xc3, 0x28, 0xa0, 0xa1])), // text, invalid UTF-8
        () => frame(0x80 | (3 + rnd(5)), payload), // reserved opcode
        () => frame(0xf1, payload), // reserved bits set
        () => frame(0x81, payload, false), // unmasked
        () => frame(0x01, payload), // a fragment never finished, then garbage
        () => frame(0x89, bytes(200)), // ping longer than 125 bytes
        () => Buffer.concat([frame(0x81, Buffer.from('{"id":1,"method":"listVms","params":[]}')), bytes(rnd(500))]),
        () => bytes(rnd(1000)),
      ])();
      const status = await rawWebSocket(port, token, frames);
      assert.match(status, /^HTTP\/1\.1 101/, `raw socket ${i} was accepted before its frames`);
    }

    // An oversized message closes its socket (1009).
    const big = new WebSocket(`ws://127.0.0.1:${port}/api?token=${token}`, { origin });
    await new Promise((r) => big.on('open', r));
    const bigClosed = new Promise<number>((r) => big.on('close', (c) => r(c)));
    big.on('error', () => {});
    big.send('x'.repeat((2 << 20) + 1));
    assert.equal(await bigClosed, 1009);

    // More connections than allowed at once: the extra ones are refused, the server goes on.
    const many = Array.from({ length: 40 }, () => new WebSocket(`ws://127.0.0.1:${port}/api?token=${token}`, { origin }));
    const outcomes = await Promise.all(
      many.map(
        (w) =>
          new Promise<string>((r) => {
            w.on('open', () => r('open'));
            w.on('unexpected-response', (_q, res) => (res.resume(), r(String(res.statusCode))));
            w.on('error', () => r('error'));
          }),
      ),
    );
    assert.ok(outcomes.filter((o) => o === 'open').length <= 16);
    assert.ok(outcomes.includes('503'));
    await Promise.all(many.map((w) => new Promise((r) => (w.readyState === w.CLOSED ? r(null) : (w.on('close', r), w.close())))));

    // Still serving, and the VM is still running and answering on its console.
    assert.match(await rawHttp(port, `GET /?token=${token} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`), /^HTTP\/1\.1 200/);
    const after = new WebSocket(`ws://127.0.0.1:${port}/api?token=${token}`, { origin });
    await new Promise((r) => after.on('open', r));
    let console = '';
    const replies = new Map<number, unknown>();
    after.on('message', (m) => {
      const msg = decodeWire(m.toString()) as { id?: number; result?: unknown; event?: { type: string; id: string; data: string } };
      if (msg.event?.type === 'serial' && msg.event.id === vm) console += msg.event.data;
      else if (typeof msg.id === 'number') replies.set(msg.id, msg.result);
    });
    after.send(encodeWire({ id: 1, method: 'listVms', params: [] }));
    after.send(encodeWire({ id: 2, method: 'sendSerial', params: [vm, 'uname -r\r'] }));
    const until = Date.now() + 10_000;
    while ((!replies.has(1) || !console.includes(FAKE_RELEASE)) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    const survivor = (replies.get(1) as { id: string; power: string }[]).find((v) => v.id === vm);
    assert.equal(survivor?.power, 'running');
    assert.ok(console.includes(FAKE_RELEASE), 'the VM answers on its console');
    after.close();
  } catch (e) {
    throw new Error(`${(e as Error).message} (replay with HOSTBOX_FUZZ_SEED=${seed})`, { cause: e });
  } finally {
    await server.close();
    await host.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(rendererDir, { recursive: true, force: true });
    rmSync(kernel, { force: true });
  }
});
