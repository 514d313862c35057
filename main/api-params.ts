// The argument shapes of every host API method, checked before a call from the renderer (the
// WebSocket in web mode, IPC in Electron) reaches the API: a page sends whatever it likes, and a
// wrong type must come back as one clear error, never as a TypeError deep inside the library.

import type { HostApi } from './api-types.ts';

type Param = 'id' | 'settings' | 'text' | 'scancodes' | 'flag' | 'name' | 'delta' | 'buttons' | 'version' | 'path';

const PARAMS: Record<keyof HostApi, readonly Param[]> = {
  version: [],
  listVms: [],
  defaultSettings: [],
  createVm: ['settings'],
  updateVm: ['id', 'settings'],
  deletePlan: ['id'],
  deleteVm: ['id'],
  powerOn: ['id'],
  powerOff: ['id'],
  suspendVm: ['id'],
  discardState: ['id'],
  resetVm: ['id'],
  shutdownGuest: ['id'],
  listSnapshots: ['id'],
  takeSnapshot: ['id', 'name'],
  revertSnapshot: ['id', 'id'],
  deleteSnapshot: ['id', 'id'],
  browseDir: ['path'],
  recentFiles: [],
  sampleGuest: [],
  createSampleVm: [],
  sendSerial: ['id', 'text'],
  sendKeys: ['id', 'scancodes'],
  sendMouse: ['id', 'delta', 'delta', 'delta', 'buttons'],
  screenUpdate: ['id', 'version'],
  changeCd: ['id', 'path'],
  serialLog: ['id'],
  netStatus: ['id'],
  setCable: ['id', 'flag'],
  syncFolders: ['id'],
};

/** VM ids are short; a paste into the console is bounded so one call cannot hold the host for long. */
const MAX_ID = 128;
export const MAX_SERIAL_TEXT = 1 << 20;
const MAX_SCANCODES = 256;
const MAX_NAME = 200;
/** One call's mouse motion; the host splits it into messages the VMM takes. */
const MAX_MOUSE_MOVE = 65536;
/** PATH_MAX on Linux. */
const MAX_PATH = 4096;

function problem(kind: Param, v: unknown): string | null {
  switch (kind) {
    case 'id':
      return typeof v === 'string' && v.length > 0 && v.length <= MAX_ID ? null : 'a VM id (text)';
    case 'settings':
      return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) ? null : 'a settings object';
    case 'text':
      return typeof v === 'string' && v.length <= MAX_SERIAL_TEXT ? null : `text of at most ${MAX_SERIAL_TEXT} characters`;
    case 'name':
      return typeof v === 'string' && v.length <= MAX_NAME ? null : `a name of at most ${MAX_NAME} characters`;
    case 'delta':
      return Number.isInteger(v) && Math.abs(v as number) <= MAX_MOUSE_MOVE ? null : `a whole number of pixels within ${MAX_MOUSE_MOVE}`;
    case 'buttons':
      return Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0x1f ? null : 'mouse buttons 0-31';
    case 'version':
      return Number.isSafeInteger(v) && (v as number) >= 0 ? null : 'a screen version (a whole number, 0 for the whole picture)';
    case 'path':
      return typeof v === 'string' && v.length <= MAX_PATH && !v.includes('\0') ? null : `a path of at most ${MAX_PATH} characters without NUL`;
    case 'flag':
      return typeof v === 'boolean' ? null : 'true or false';
    case 'scancodes':
      return Array.isArray(v) && v.length <= MAX_SCANCODES && v.every((c) => Number.isInteger(c) && c >= 0 && c <= 0xff) ? null : `up to ${MAX_SCANCODES} scancode bytes`;
  }
}

/** Why `params` cannot be passed to `method`, or null when they can; `method` must be an API method. */
export function paramsProblem(method: keyof HostApi, params: unknown): string | null {
  const want = PARAMS[method];
  if (!Array.isArray(params)) return `${method}: params must be an array`;
  if (params.length !== want.length) return `${method} takes ${want.length} argument${want.length === 1 ? '' : 's'}, not ${params.length}`;
  for (let i = 0; i < want.length; i++) {
    const p = problem(want[i]!, params[i]);
    if (p) return `${method}: argument ${i + 1} must be ${p}`;
  }
  return null;
}
