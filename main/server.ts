// Web mode: the same host API the Electron preload exposes, served to a browser on 127.0.0.1.
// A random secret token guards everything: the page URL carries it (?token=...), the server then
// sets it as a cookie named for its port, and the WebSocket upgrade must present one of the two.
// Host and Origin must name this server (web-origin.ts). Over the WebSocket: {id, method, params} ->
// {id, result} | {id, error}; only the allow-listed methods run, with their arguments checked; host
// events are pushed as {event}. Uint8Array values travel as {"$bytes": base64}.
//
// Everything that arrives is hostile until checked, and the VMs run in this process (worker
// threads), so no request or frame may throw past its handler: a bad one gets an error answer or a
// closed connection, and the server goes on.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { extname, join, normalize, sep } from 'node:path';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { fetchSiteAllowed, hostAllowed, originAllowed, securityHeaders, tokenCookie, tokenFromCookie, tokenFromQuery, type OriginPolicy } from './web-origin.ts';

export interface WebServerOptions {
  port?: number;
  host?: '127.0.0.1';
  rendererDir: string;
  api: object;
  methods: readonly string[];
  /** Why these params cannot go to this method (an allow-listed one), or null. */
  checkParams?(method: string, params: unknown): string | null;
  subscribe(listener: (event: unknown) => void): () => void;
  /** Tests lower these. */
  limits?: Partial<WebLimits>;
}

export interface WebLimits {
  /** Largest message a client may send; the API's largest argument is a 1 MiB console paste. */
  maxMessageBytes: number;
  /** Open API sockets at once: the app needs one per tab. */
  maxClients: number;
  /** Calls one socket may have running at once. */
  maxInFlight: number;
  /** Above this many unsent bytes to a client, superseded screen frames are held back (only the newest per VM is kept). */
  slowClientBytes: number;
  /** Above this, the client is too slow to keep up at all and is disconnected. */
  deadClientBytes: number;
}

const DEFAULT_LIMITS: WebLimits = {
  maxMessageBytes: 2 << 20,
  maxClients: 16,
  maxInFlight: 64,
  slowClientBytes: 4 << 20,
  deadClientBytes: 64 << 20,
};

export interface WebServer {
  url: string;
  token: string;
  port: number;
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

/** A request id is echoed back only when it is one a client could match: a number or a short string. */
function replyId(id: unknown): number | string | null {
  if (typeof id === 'number' && Number.isFinite(id)) return id;
  if (typeof id === 'string' && id.length <= 64) return id;
  return null;
}

function refuseUpgrade(socket: Duplex, status: string, why: string): void {
  socket.on('error', () => {});
  socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(why)}\r\nConnection: close\r\n\r\n${why}`);
  // A client that never reads its answer must not keep the socket.
  setTimeout(() => socket.destroy(), 2000).unref();
}

export async function startWebServer(opts: WebServerOptions): Promise<WebServer> {
  const token = randomBytes(24).toString('base64url');
  const root = normalize(opts.rendererDir + sep);
  const allowed = new Set(opts.methods);
  const limits: WebLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  // Known once listening; every check below runs after that.
  const policy: OriginPolicy = { port: 0, token };
  let headers: Record<string, string> = {};

  const answer = (res: ServerResponse, status: number, text: string): void => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(status, { ...headers, 'content-type': 'text/plain; charset=utf-8' }).end(text);
  };

  const serveFile = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      answer(res, 400, 'bad request: the path is not valid percent-encoding');
      return;
    }
    if (path.includes('\0')) {
      answer(res, 400, 'bad request: the path holds a NUL');
      return;
    }
    if (path === '/' || path === '') path = '/index.html';
    const file = normalize(join(root, path));
    if (!file.startsWith(root)) {
      answer(res, 404, 'not found');
      return;
    }
    let body: Buffer;
    try {
      if (!(await stat(file)).isFile()) throw new Error('not a file');
      body = await readFile(file);
    } catch {
      answer(res, 404, 'not found');
      return;
    }
    const h: Record<string, string> = { ...headers, 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' };
    if (tokenFromQuery(url, policy)) h['set-cookie'] = tokenCookie(policy);
    res.writeHead(200, h).end(req.method === 'HEAD' ? undefined : body);
  };

  const handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (!hostAllowed(req, policy.port)) return answer(res, 403, 'forbidden: this server answers only to the address Hostbox printed');
    if (!originAllowed(req, policy.port, false) || !fetchSiteAllowed(req)) return answer(res, 403, 'forbidden: requests from other pages are refused');
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://127.0.0.1');
    } catch {
      return answer(res, 400, 'bad request: the address cannot be parsed');
    }
    if (!tokenFromQuery(url, policy) && !tokenFromCookie(req, policy)) return answer(res, 403, 'forbidden: open the URL Hostbox printed (it carries the access token)');
    // Nothing here changes state over HTTP: every other method is refused before it can matter.
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return answer(res, 405, 'method not allowed');
    }
    serveFile(req, res, url).catch(() => answer(res, 500, 'internal error'));
  };

  const server = createServer((req, res) => {
    req.on('error', () => {});
    res.on('error', () => {});
    try {
      handleRequest(req, res);
    } catch {
      answer(res, 500, 'internal error');
    }
  });
  // Malformed HTTP never reaches the handler: answer it and drop the socket.
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    socket.destroy();
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxMessageBytes, clientTracking: true });
  wss.on('error', () => {});
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    try {
      if (!hostAllowed(req, policy.port)) return refuseUpgrade(socket, '403 Forbidden', 'wrong Host');
      if (!originAllowed(req, policy.port, true)) return refuseUpgrade(socket, '403 Forbidden', 'the API socket is only for the Hostbox page');
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://127.0.0.1');
      } catch {
        return refuseUpgrade(socket, '400 Bad Request', 'bad address');
      }
      if (url.pathname !== '/api') return refuseUpgrade(socket, '404 Not Found', 'no such socket');
      if (!tokenFromQuery(url, policy) && !tokenFromCookie(req, policy)) return refuseUpgrade(socket, '403 Forbidden', 'no access token');
      if (wss.clients.size >= limits.maxClients) return refuseUpgrade(socket, '503 Service Unavailable', 'too many connections');
      socket.on('error', () => {});
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    } catch {
      socket.destroy();
    }
  });

  wss.on('connection', (ws: WebSocket) => {
    // Every failure on this socket (bad UTF-8, oversize frame, reset) ends with 'close'; ws closes it itself.
    ws.on('error', () => {});
    let inFlight = 0;
    /** Screen frames held back from a slow client: each replaces the last one for its VM. */
    const heldScreens = new Map<string, string>();
    const send = (payload: string): void => {
      if (ws.readyState !== ws.OPEN) return;
      if (ws.bufferedAmount > limits.deadClientBytes) {
        ws.terminate();
        return;
      }
      ws.send(payload, () => {
        if (heldScreens.size && ws.bufferedAmount < limits.slowClientBytes) {
          const held = [...heldScreens.values()];
          heldScreens.clear();
          for (const p of held) send(p);
        }
      });
    };
    const unsubscribe = opts.subscribe((event) => {
      try {
        if (ws.readyState !== ws.OPEN) return;
        const e = event as { type?: unknown; id?: unknown };
        const payload = encodeWire({ event });
        if (e.type === 'screen' && typeof e.id === 'string' && ws.bufferedAmount > limits.slowClientBytes) heldScreens.set(e.id, payload);
        else send(payload);
      } catch {
        ws.terminate();
      }
    });
    ws.on('close', unsubscribe);
    const reply = (id: number | string | null, body: { result: unknown } | { error: string }): void => {
      try {
        send(encodeWire({ id, ...body }));
      } catch {
        send(encodeWire({ id, error: 'the result cannot be sent' }));
      }
    };
    ws.on('message', (data: RawData, isBinary: boolean) => {
      try {
        if (isBinary) return reply(null, { error: 'malformed message: binary frames are not accepted' });
        let msg: unknown;
        try {
          msg = decodeWire((Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer)).toString('utf8'));
        } catch {
          return reply(null, { error: 'malformed message: not JSON' });
        }
        if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return reply(null, { error: 'malformed message: not an object' });
        const { id: rawId, method, params } = msg as { id?: unknown; method?: unknown; params?: unknown };
        const id = replyId(rawId);
        const fn = typeof method === 'string' && allowed.has(method) ? (opts.api as Record<string, unknown>)[method] : undefined;
        if (typeof fn !== 'function') return reply(id, { error: `unknown method ${typeof method === 'string' ? method.slice(0, 64) : typeof method}` });
        const args = params === undefined ? [] : params;
        const problem = opts.checkParams ? opts.checkParams(method as string, args) : Array.isArray(args) ? null : 'params must be an array';
        if (problem) return reply(id, { error: problem });
        if (inFlight >= limits.maxInFlight) return reply(id, { error: 'too many calls at once: wait for answers' });
        inFlight++;
        Promise.resolve()
          .then(() => (fn as (...a: unknown[]) => unknown).apply(opts.api, args as unknown[]))
          .then(
            (result) => reply(id, { result: result ?? null }),
            (e: unknown) => reply(id, { error: e instanceof Error ? e.message : String(e) }),
          )
          .finally(() => inFlight--);
      } catch {
        ws.terminate();
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  // After listening, a server error (such as too many open files on accept) is reported, not thrown.
  server.on('error', (e) => process.stderr.write(`hostbox: web server: ${e.message}\n`));
  const addr = server.address();
  policy.port = typeof addr === 'object' && addr ? addr.port : 0;
  headers = securityHeaders(policy.port);
  return {
    url: `http://127.0.0.1:${policy.port}/?token=${token}`,
    token,
    port: policy.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
