// Web mode: the same host API the Electron preload exposes, served to a browser on 127.0.0.1.
// A random secret token guards everything: the page URL carries it (?token=...), the server then
// sets it as a cookie for the page's assets, and the WebSocket upgrade must present it too; anything
// else gets 403. Over the WebSocket: {id, method, params} -> {id, result} | {id, error}; only the
// allow-listed methods run; host events are pushed as {event}. Uint8Array values travel as
// {"$bytes": base64}.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';

export interface WebServerOptions {
  port?: number;
  host?: '127.0.0.1';
  rendererDir: string;
  api: object;
  methods: readonly string[];
  subscribe(listener: (event: unknown) => void): () => void;
}

export interface WebServer {
  url: string;
  token: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.map': 'application/json',
};

/** JSON with Uint8Array as {"$bytes": base64}, both ways. */
export function encodeWire(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x instanceof Uint8Array ? { $bytes: Buffer.from(x).toString('base64') } : x));
}
export function decodeWire(s: string): unknown {
  return JSON.parse(s, (_k, x: unknown) =>
    x && typeof x === 'object' && typeof (x as { $bytes?: unknown }).$bytes === 'string' ? new Uint8Array(Buffer.from((x as { $bytes: string }).$bytes, 'base64')) : x,
  );
}

function sameSecret(a: string | null | undefined, b: string): boolean {
  if (!a || a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

function cookieToken(req: IncomingMessage): string | null {
  const m = /(?:^|;\s*)hostbox_token=([A-Za-z0-9_-]+)/.exec(req.headers.cookie ?? '');
  return m ? m[1]! : null;
}

export async function startWebServer(opts: WebServerOptions): Promise<WebServer> {
  const token = randomBytes(24).toString('base64url');
  const root = normalize(opts.rendererDir + sep);
  const allowed = new Set(opts.methods);

  const serveFile = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    let path = decodeURIComponent(url.pathname);
    if (path === '/' || path === '') path = '/index.html';
    const file = normalize(join(root, path));
    if (!file.startsWith(root)) {
      res.writeHead(404).end();
      return;
    }
    try {
      if (!(await stat(file)).isFile()) throw new Error('not a file');
      const body = await readFile(file);
      const headers: Record<string, string> = {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'x-content-type-options': 'nosniff',
        'cache-control': 'no-store',
      };
      if (url.searchParams.get('token')) headers['set-cookie'] = `hostbox_token=${token}; HttpOnly; SameSite=Strict; Path=/`;
      res.writeHead(200, headers).end(req.method === 'HEAD' ? undefined : body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (!sameSecret(url.searchParams.get('token'), token) && !sameSecret(cookieToken(req), token)) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('forbidden: open the URL Hostbox printed (it carries the access token)');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    void serveFile(req, res, url);
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: 16 << 20 });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/api' || (!sameSecret(url.searchParams.get('token'), token) && !sameSecret(cookieToken(req), token))) {
      socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  wss.on('connection', (ws: WebSocket) => {
    const unsubscribe = opts.subscribe((event) => {
      if (ws.readyState === ws.OPEN) ws.send(encodeWire({ event }));
    });
    ws.on('close', unsubscribe);
    ws.on('message', (data) => {
      let msg: { id?: unknown; method?: unknown; params?: unknown };
      try {
        msg = decodeWire(data.toString()) as typeof msg;
      } catch {
        ws.send(encodeWire({ id: null, error: 'malformed message: not JSON' }));
        return;
      }
      const { id, method, params } = msg;
      if (typeof method !== 'string' || !allowed.has(method)) {
        ws.send(encodeWire({ id, error: `unknown method ${String(method)}` }));
        return;
      }
      const fn = (opts.api as Record<string, unknown>)[method];
      if (typeof fn !== 'function') {
        ws.send(encodeWire({ id, error: `unknown method ${method}` }));
        return;
      }
      Promise.resolve()
        .then(() => (fn as (...a: unknown[]) => unknown).apply(opts.api, Array.isArray(params) ? params : []))
        .then(
          (result) => ws.send(encodeWire({ id, result: result ?? null })),
          (e: unknown) => ws.send(encodeWire({ id, error: e instanceof Error ? e.message : String(e) })),
        );
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.close(() => resolve());
      }),
  };
}
