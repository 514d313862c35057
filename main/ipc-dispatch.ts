// The desktop app's one IPC channel, apart from Electron so it can be tested without it: a call is
// carried out only when it comes from the app's own window, from its top frame showing the app's
// own page (a frame or a page navigated elsewhere gets nothing), names an allow-listed method, and
// passes the argument check the web server applies too.

import { paramsProblem } from './api-params.ts';
import type { HostApi } from './api-types.ts';

/** The parts of Electron's IpcMainInvokeEvent looked at. */
export interface IpcSender {
  sender: unknown;
  senderFrame?: { url: string; parent: unknown } | null;
}

export interface IpcTrust {
  /** The app window's webContents. */
  webContents: unknown;
  /** The file: URL of the app's page (dist/renderer/index.html). */
  pageUrl: string;
}

/** Why this sender may not call, or null. */
export function senderProblem(e: IpcSender, trust: IpcTrust): string | null {
  if (e.sender !== trust.webContents) return 'not the Hostbox window';
  const frame = e.senderFrame;
  if (!frame || frame.parent !== null) return 'not the top frame';
  // Compare without a fragment: the page may use one, but it must be the app's page.
  if (frame.url.split('#')[0] !== trust.pageUrl) return 'not the Hostbox page';
  return null;
}

export async function dispatchIpc(api: HostApi, allowed: ReadonlySet<string>, e: IpcSender, trust: IpcTrust, method: unknown, params: unknown): Promise<unknown> {
  const refused = senderProblem(e, trust);
  if (refused) throw new Error(`refused: ${refused}`);
  if (typeof method !== 'string' || !allowed.has(method)) throw new Error(`unknown method ${typeof method === 'string' ? method.slice(0, 64) : typeof method}`);
  const problem = paramsProblem(method as keyof HostApi, params);
  if (problem) throw new Error(problem);
  const fn = (api as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!;
  return fn.apply(api, params as unknown[]);
}
