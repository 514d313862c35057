// One API object whatever the shell: Electron's preload (window.hostbox) or, in web mode, a WebSocket
// to the page's own server carrying the access token from the page URL.
import type { HostApi, HostEvent } from '../../main/api-types.ts';

export type Client = HostApi & {
  onEvent(listener: (e: HostEvent) => void): () => void;
  /** The desktop app only: the system's open dialog (null when cancelled). Web mode browses through browseDir. */
  pickPath?(kind: 'file' | 'folder', current: string): Promise<string | null>;
  /** The desktop app's native folder picker (absent in web mode): a path, or null when cancelled. */
  pickFolder?(): Promise<string | null>;
};

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

/**
 * The access token from the page address, which is then taken out of the address bar and the
 * history (so it is not copied, bookmarked or shown): the cookie the server set with this page
 * carries it from now on, for reloads and for the API socket.
 */
function takeToken(): string | null {
  const params = new URLSearchParams(location.search);
  const token = params.get('token');
  if (token === null) return null;
  params.delete('token');
  const rest = params.toString();
  history.replaceState(history.state, '', location.pathname + (rest ? `?${rest}` : '') + location.hash);
  return token;
}

function webSocketClient(): Client {
  const token = takeToken();
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${scheme}://${location.host}/api${token ? `?token=${encodeURIComponent(token)}` : ''}`);
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
  let lost: Error | null = null;
  ws.addEventListener('close', () => {
    lost = new Error('the connection to Hostbox was lost: reload the page once it runs again');
    for (const p of pending.values()) p.reject(lost);
    pending.clear();
  });
  const call = async (method: string, params: unknown[]): Promise<unknown> => {
    await open;
    if (lost) throw lost;
    const id = next++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  };
  // Every method of HostApi is a call by name; the server refuses names outside its allow-list.
  const onEvent = (l: (e: HostEvent) => void): (() => void) => {
    listeners.add(l);
    return () => listeners.delete(l);
  };
  const client = new Proxy({} as Record<string, unknown>, {
    get: (_t, name) => (name === 'onEvent' ? onEvent : name === 'then' || typeof name !== 'string' ? undefined : (...params: unknown[]) => call(name, params)),
  });
  return client as unknown as Client;
}

export const api: Client = window.hostbox ?? webSocketClient();
