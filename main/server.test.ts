import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { decodeWire, encodeWire, startWebServer, type WebLimits } from './server.ts';

const dir = mkdtempSync(join(tmpdir(), 'hostbox-web-'));
writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Hostbox</title>');
writeFileSync(join(dir, 'app.js'), 'console.log(1)');

interface Served {
  url: string;
  token: string;
  base: string;
  port: number;
  origin: string;
  emit(e: unknown): void;
}

async function withServer(f: (s: Served) => Promise<void>, limits: Partial<WebLimits> = {}): Promise<void> {
  const events = new Set<(e: unknown) => void>();
  const api = {
    async echo(x: unknown) {
      for (const l of events) l({ type: 'echoed', x });
      return x;
    },
    async secret() {
      return 'should never be reachable';
    },
    async boom() {
      throw new Error('it broke');
    },
  };
  const s = await startWebServer({
    rendererDir: dir,
    api,
    methods: ['echo', 'boom'],
    checkParams: (method, params) => (Array.isArray(params) && params.length === (method === 'echo' ? 1 : 0) ? null : `${method}: wrong arguments`),
    subscribe: (l) => (events.add(l), () => events.delete(l)),
    limits,
  });
  try {
    await f({
      url: s.url,
      token: s.token,
      base: s.url.split('?')[0]!,
      port: s.port,
      origin: `http://127.0.0.1:${s.port}`,
      emit: (e) => {
        for (const l of events) l(e);
      },
    });
  } finally {
    await s.close();
  }
}

/** An HTTP GET with any headers (fetch will not send a foreign Host). */
function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Writes raw bytes to the port and collects the answer until the server closes. */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.end(bytes));
    let got = '';
    s.on('data', (c) => (got += c.toString()));
    s.on('close', () => resolve(got));
    s.on('error', () => resolve(got));
  });
}

function openSocket(s: Served, opts: { origin?: string | null; host?: string; token?: string | null } = {}): WebSocket {
  const token = opts.token === undefined ? s.token : opts.token;
  const headers: Record<string, string> = {};
  if (opts.host) headers.host = opts.host;
  return new WebSocket(`ws://127.0.0.1:${s.port}/api${token ? `?token=${token}` : ''}`, {
    ...(opts.origin === null ? {} : { origin: opts.origin ?? s.origin }),
    headers,
  });
}

/** 'open', or the refusal's status line / error. */
function outcome(ws: WebSocket): Promise<string> {
  return new Promise((resolve) => {
    ws.on('open', () => resolve('open'));
    ws.on('unexpected-response', (_req, res) => {
      resolve(String(res.statusCode));
      res.resume();
    });
    ws.on('error', (e) => resolve(`error: ${e.message}`));
  });
}

/** Sends and waits for the next reply with this id (or any id-less reply when id is null). */
function call(ws: WebSocket, frame: string, id: unknown = null): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const on = (m: WebSocket.RawData): void => {
      const msg = decodeWire(m.toString()) as Record<string, unknown>;
      if ('event' in msg || msg.id !== id) return;
      ws.off('message', on);
      resolve(msg);
    };
    ws.on('message', on);
    ws.send(frame);
  });
}

function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.on('close', (code) => resolve(code)));
}

async function stillServes(s: Served): Promise<void> {
  const page = await get(s.port, `/?token=${s.token}`);
  assert.equal(page.status, 200);
  const ws = openSocket(s);
  assert.equal(await outcome(ws), 'open');
  assert.deepEqual((await call(ws, encodeWire({ id: 99, method: 'echo', params: ['still here'] }), 99)).result, 'still here');
  ws.close();
}

test('every request needs the token; the page URL sets a cookie named for the port', async () => {
  await withServer(async ({ url, base, token, port }) => {
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{20,}$/);
    assert.equal((await fetch(base)).status, 403);
    assert.equal((await fetch(base + 'app.js')).status, 403);
    assert.equal((await fetch(base + '?token=wrong' + token.slice(5))).status, 403);
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /Hostbox/);
    const setCookie = page.headers.get('set-cookie')!;
    assert.match(setCookie, new RegExp(`^hostbox_token_${port}=`));
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    const cookie = setCookie.split(';')[0]!;
    const asset = await fetch(base + 'app.js', { headers: { cookie } });
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get('content-type')!, /javascript/);
    // Another port's cookie, even with the right value, is not this server's.
    assert.equal((await fetch(base + 'app.js', { headers: { cookie: cookie.replace(String(port), String(port + 1)) } })).status, 403);
    assert.equal((await fetch(base + '..%2f..%2fetc%2fpasswd', { headers: { cookie } })).status, 404);
    // A wrong token as long as the right one but not ASCII (more bytes than characters) is a wrong token, not an internal error.
    const wide = '\u00e9' + token.slice(1);
    assert.equal((await fetch(`${base}?token=${encodeURIComponent(wide)}`)).status, 403);
    assert.equal((await get(port, '/app.js', { cookie: `hostbox_token_${port}=\u00e9${token.slice(1)}` })).status, 403);
  });
});

test('pages cannot be framed, leak no referrer and run only their own scripts', async () => {
  await withServer(async ({ port, token }) => {
    for (const path of [`/?token=${token}`, '/']) {
      const r = await get(port, path);
      assert.equal(r.headers['x-frame-options'], 'DENY', path);
      assert.equal(r.headers['referrer-policy'], 'no-referrer', path);
      const csp = String(r.headers['content-security-policy']);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.match(csp, new RegExp(`connect-src 'self' ws://127\\.0\\.0\\.1:${port} ws://localhost:${port}(;|$)`));
    }
  });
});

test('Host must name this server (no DNS rebinding), and other origins are refused', async () => {
  await withServer(async ({ port, token }) => {
    assert.equal((await get(port, `/?token=${token}`)).status, 200);
    assert.equal((await get(port, `/?token=${token}`, { host: `localhost:${port}` })).status, 200);
    assert.equal((await get(port, `/?token=${token}`, { host: `rebound.example:${port}` })).status, 403);
    assert.equal((await get(port, `/?token=${token}`, { host: `127.0.0.1:${port + 1}` })).status, 403);
    assert.equal((await get(port, `/?token=${token}`, { origin: `http://127.0.0.1:${port + 1}` })).status, 403);
    assert.equal((await get(port, `/?token=${token}`, { origin: `http://127.0.0.1:${port}` })).status, 200);
    // A page on another local port pulling in our script (its cookie would ride along) is refused; a navigation is not.
    assert.equal((await get(port, `/app.js?token=${token}`, { 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'script' })).status, 403);
    assert.equal((await get(port, `/?token=${token}`, { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' })).status, 200);
  });
});

test('the WebSocket needs the token, this Host and this Origin, and runs only allow-listed methods', async () => {
  await withServer(async (s) => {
    assert.equal(await outcome(openSocket(s, { token: null })), '403');
    assert.equal(await outcome(openSocket(s, { token: encodeURIComponent('\u00e9' + s.token.slice(1)) })), '403');
    assert.equal(await outcome(openSocket(s, { origin: null })), '403');
    assert.equal(await outcome(openSocket(s, { origin: `http://127.0.0.1:${s.port + 1}` })), '403');
    assert.equal(await outcome(openSocket(s, { origin: 'http://evil.example' })), '403');
    assert.equal(await outcome(openSocket(s, { host: `rebound.example:${s.port}`, origin: `http://rebound.example:${s.port}` })), '403');
    const ws = openSocket(s);
    assert.equal(await outcome(ws), 'open');
    const events: unknown[] = [];
    ws.on('message', (m) => {
      const msg = decodeWire(m.toString()) as { event?: unknown };
      if (msg.event) events.push(msg.event);
    });
    assert.deepEqual((await call(ws, encodeWire({ id: 1, method: 'echo', params: [new Uint8Array([1, 2, 3])] }), 1)).result, new Uint8Array([1, 2, 3]));
    assert.match(String((await call(ws, encodeWire({ id: 2, method: 'secret', params: [] }), 2)).error), /unknown method secret/);
    assert.equal((await call(ws, encodeWire({ id: 3, method: 'boom', params: [] }), 3)).error, 'it broke');
    assert.ok(events.length > 0, 'host events are pushed');
    ws.close();
  });
});

test('no request or frame kills the server: each gets an error answer or a closed connection', { timeout: 30_000 }, async () => {
  await withServer(
    async (s) => {
      const cookie = { cookie: `hostbox_token_${s.port}=${s.token}` };
      // HTTP: bad percent-encoding (once an unhandled URIError), NULs, garbage, other methods.
      assert.equal((await get(s.port, `/%E0%A4%A?token=${s.token}`)).status, 400);
      assert.equal((await get(s.port, '/%E0%A4%A', cookie)).status, 400);
      assert.equal((await get(s.port, '/index.html%00.js', cookie)).status, 400);
      assert.equal((await get(s.port, '//[::', cookie)).status, 400);
      assert.match(await raw(s.port, 'GARBAGE\r\n\r\n'), /^HTTP\/1\.1 400/);
      assert.match(await raw(s.port, `DELETE /?token=${s.token} HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nConnection: close\r\n\r\n`), /^HTTP\/1\.1 405/);
      assert.match(await raw(s.port, `GET /api?token=${s.token} HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`), /^HTTP\/1\.1 (400|403)/);

      const ws = openSocket(s);
      assert.equal(await outcome(ws), 'open');
      const err = async (frame: string | Buffer, id: unknown = null, binary = false): Promise<string> => {
        const r = await new Promise<Record<string, unknown>>((resolve) => {
          const on = (m: WebSocket.RawData): void => {
            const msg = decodeWire(m.toString()) as Record<string, unknown>;
            if ('event' in msg || msg.id !== id) return;
            ws.off('message', on);
            resolve(msg);
          };
          ws.on('message', on);
          ws.send(frame, { binary });
        });
        return String(r.error);
      };
      assert.match(await err('null'), /not an object/);
      assert.match(await err('[]'), /not an object/);
      assert.match(await err('"text"'), /not an object/);
      assert.match(await err('{"id":'), /not JSON/);
      assert.match(await err(''), /not JSON/);
      assert.match(await err(Buffer.from([1, 2, 3]), null, true), /binary frames/);
      assert.match(await err('{"id":{"nested":1},"method":"echo","params":[1]}'), /^undefined$/);
      assert.match(await err('{"id":5,"method":42}', 5), /unknown method number/);
      for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'secret']) assert.match(await err(`{"id":6,"method":"${name}","params":[]}`, 6), /unknown method/);
      assert.match(await err('{"id":7,"method":"echo","params":"x"}', 7), /wrong arguments/);
      assert.match(await err('{"id":8,"method":"echo","params":[1,2]}', 8), /wrong arguments/);
      assert.match(await err('{"id":9,"method":"echo","params":null}', 9), /wrong arguments/);
      assert.match(await err('{"id":10,"method":"echo","params":[{"$bytes":"!!!"}]}', 10), /^undefined$/);
      assert.match(await err('['.repeat(30_000) + ']'.repeat(30_000)), /not an object|not JSON/);
      ws.close();

      
      // Invalid UTF-8 in a text frame: the socket is closed (1007), the server goes on.
      const bad = openSocket(s);
      assert.equal(await outcome(bad), 'open');
      const badClosed = closed(bad);
      bad.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
      assert.equal(await badClosed, 1007);

      // A message over the size limit: closed (1009).
      const big = openSocket(s);
      assert.equal(await outcome(big), 'open');
      const bigClosed = closed(big);
      big.send('x'.repeat(64 * 1024 + 1));
      assert.equal(await bigClosed, 1009);

      // Connections are capped; the ones over the cap are refused, not queued.
      const many = Array.from({ length: 4 }, () => openSocket(s));
      assert.deepEqual(await Promise.all(many.map(outcome)), ['open', 'open', 'open', 'open']);
      assert.equal(await outcome(openSocket(s)), '503');
      await Promise.all(many.map((w) => (w.close(), closed(w))));

      // Idle TCP connections beyond the cap are dropped at once; once they go, service resumes.
      const idle = await Promise.all(
        Array.from(
          { length: 12 },
          () =>
            new Promise<Socket>((r) => {
              const c = connect(s.port, '127.0.0.1', () => r(c));
              c.on('error', () => {});
            }),
        ),
      );
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(await raw(s.port, `GET /?token=${s.token} HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\n\r\n`), '');
      for (const c of idle) c.destroy();
      await new Promise((r) => setTimeout(r, 50));

      await stillServes(s);
    },
    { maxMessageBytes: 64 * 1024, maxClients: 4, maxConnections: 12 },
  );
});

test('a client that stops reading gets only the newest screen per VM, then is dropped', { timeout: 30_000 }, async () => {
  await withServer(
    async (s) => {
      const ws = openSocket(s);
      assert.equal(await outcome(ws), 'open');
      // Stop reading: what the server sends piles up in its buffer.
      (ws as unknown as { _socket: { pause(): void } })._socket.pause();
      const frame = 'p'.repeat(256 * 1024);
      for (let i = 0; i < 64; i++) s.emit({ type: 'screen', id: 'vm1', screen: frame });
      const wasClosed = closed(ws);
      // Held-back screens do not count against the client; output that cannot be dropped does.
      for (let i = 0; i < 400 && ws.readyState === ws.OPEN; i++) {
        s.emit({ type: 'serial', id: 'vm1', data: frame, offset: 0 });
        await new Promise((r) => setImmediate(r));
      }
      (ws as unknown as { _socket: { resume(): void } })._socket.resume();
      assert.equal(await wasClosed, 1006);
      await stillServes(s);
    },
    { slowClientBytes: 1 << 20, deadClientBytes: 8 << 20 },
  );
});
