// Where Hostbox keeps its VM library: HOSTBOX_DATA_DIR when set (tests, portable installs), else
// Electron's userData folder inside the desktop app, else the XDG data folder ($XDG_DATA_HOME, by
// default ~/.local/share) as web mode and the command line run without Electron.

import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

export function resolveDataDir(opts: { electronUserData?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const env = opts.env ?? process.env;
  if (env.HOSTBOX_DATA_DIR) return resolve(env.HOSTBOX_DATA_DIR);
  if (opts.electronUserData) return opts.electronUserData;
  // The XDG spec says a relative $XDG_DATA_HOME is invalid and must be ignored.
  const xdg = env.XDG_DATA_HOME && isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : join(env.HOME || homedir(), '.local', 'share');
  return join(xdg, 'hostbox');
}
