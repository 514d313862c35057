// The host API of a running app, reached from another process (the command line) over the app's
// own WebSocket, exactly as its page uses it: same allow-list, same argument checks, same events.
// The token comes from the data folder's app.json, readable only by its user.

import { WebSocket } from 'ws';
import type { HostApi, HostEvent } from './api-types.ts';
import type { AppEndpoint } from './app-endpoint.ts';
import { decodeWire, encodeWire } from './server.ts';

export interface AppConnection {
  api: HostApi;
  onEvent(listener: (e: HostEvent) => void): void;
  /** Called once when the app closes the connection (it ended, or was stopped). */
  onClose(listener: () => void): void;
  close(): void;
}

export class AppUnreachableError extends Error {}

export async function connectApp(ep: AppEndpoint, timeoutMs = 10_000): Promise<AppConnection> {
  const origin = `http://127.0.0.1:${ep.port}`;
  const ws = new WebSocket(`ws://127.0.0.1:${ep.port}/api?token=${encodeURIComponent(ep.token)}`, { origin, handshakeTimeout: timeoutMs });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', (e) => reject(new AppUnreachableError(`the Hostbox app (pid ${ep.pid}) does not answer on port ${ep.port}: ${e.message}`)));
    ws.once('unexpected-response', (_req, res) => reject(new AppUnreachableError(`the Hostbox app (pid ${ep.pid}) refused the connection (HTTP ${res.statusCode})`)));
  });
  let nextId = 1;
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  const eventListeners: ((e: HostEvent) => void)[] = [];
  const closeListeners: (() => void)[] = [];
  let closed = false;
  ws.on('message', (data) => {
    let msg: { id?: unknown; result?: unknown; error?: unknown; event?: unknown };
    try {
      msg = decodeWire(String(data)) as typeof msg;
    } catch {
      return;
    }
    if (msg.event !== undefined) {
      for (const l of eventListeners) l(msg.event as HostEvent);
      return;
    }
    const w = typeof msg.id === 'number' ? waiting.get(msg.id) : undefined;
    if (!w) return;
    waiting.delete(msg.id as number);
    if (typeof msg.error === 'string') w.reject(new Error(msg.error));
    else w.resolve(msg.result);
  });
  ws.on('error', () => {});
  ws.on('close', () => {
    if (closed) return;
    closed = true;
    for (const w of waiting.values()) w.reject(new AppUnreachableError(`the Hostbox app (pid ${ep.pid}) closed the connection`));
    waiting.clear();
    for (const l of closeListeners) l();
  });
  const call = (method: string, params: unknown[]): Promise<unknown> =>
    new Promise((resolve, reject) => {
      if (closed) return reject(new AppUnreachableError(`the Hostbox app (pid ${ep.pid}) closed the connection`));
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      ws.send(encodeWire({ id, method, params }));
    });
  const api = new Proxy({} as HostApi, {
    get: (_t, method) => (typeof method === 'string' ? (...params: unknown[]) => call(method, params) : undefined),
  });
  return {
    api,
    onEvent: (l) => eventListeners.push(l),
    onClose: (l) => closeListeners.push(l),
    close() {
      closed = true;
      ws.close();
    },
  };
}
