// One API object whatever the shell: Electron's preload (window.hostbox) or, in web mode, a WebSocket
// to the page's own server carrying the access token from the page URL.
import type { HostApi, HostEvent } from '../../main/api-types.ts';

export type Client = HostApi & { onEvent(listener: (e: HostEvent) => void): () => void };

declare global {
  interface Window {
    hostbox?: Client;
  }
}

function decode(s: string): unknown {
  return JSON.parse(s, (_k, x: unknown) => {
    if (x && typeof x === 'object' && typeof (x as { $bytes?: unknown }).$bytes === 'string') {
      const bin = atob((x as { $bytes: string }).$bytes);
      return Uint8Array.from(bin, (c) => c.charCodeAt(0));
    }
    return x;
  });
}

function webSocketClient(): Client {
  const token = new URLSearchParams(location.search).get('token') ?? '';
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${scheme}://${location.host}/api?token=${encodeURIComponent(token)}`);
  const open = new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve());
    ws.addEventListener('error', () => reject(new Error('cannot reach the Hostbox server')));
  });
  let next = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const listeners = new Set<(e: HostEvent) => void>();
  ws.addEventListener('message', (m) => {
    const msg = decode(String(m.data)) as { id?: number; result?: unknown; error?: string; event?: HostEvent };
    if (msg.event) {
      for (const l of listeners) l(msg.event);
      return;
    }
    const p = msg.id !== undefined ? pending.get(msg.id) : undefined;
    if (!p) return;
    pending.delete(msg.id!);
    if (msg.error !== undefined) p.reject(new Error(msg.error));
    else p.resolve(msg.result);
  });
  const call = async (method: string, params: unknown[]): Promise<unknown> => {
    await open;
    const id = next++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  };
  const methods = ['version', 'listVms', 'startVm', 'stopVm', 'resetVm', 'sendSerial', 'sendKeys', 'serialLog'] as const;
  const client = {} as Record<string, unknown>;
  for (const m of methods) client[m] = (...params: unknown[]) => call(m, params);
  client.onEvent = (l: (e: HostEvent) => void) => {
    listeners.add(l);
    return () => listeners.delete(l);
  };
  return client as unknown as Client;
}

export const api: Client = window.hostbox ?? webSocketClient();
