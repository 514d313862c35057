// Checks a VM's settings as a user typed them, every field at once, so the form can show each
// problem next to its field. Files are checked the way the VM will use them (a kernel must be a
// bzImage or Multiboot kernel the loaders accept, a disk a whole number of sectors), so a VM that
// saves also boots.

import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { KERNEL_HEAD_BYTES, kernelKind } from '../../vmm/boot/kernel.ts';
import type { EngineSetting, FieldError, SettingsField, VmCreateSettings, VmSettings } from '../api-types.ts';
import { MAX_BOOT_FILE, MAX_MEMORY_MIB, MIN_MEMORY_MIB, ideSlotsForFolders, sizeText } from '../vmm-host.ts';
import { folderRefusal, imageRefusal, type ImageScope } from '../backends/image-policy.ts';
import { readFull } from '../backends/host-folder/folder-sync.ts';
import { parseForward, parseMac, type ParsedForward } from '../backends/nat/forward-spec.ts';

export const ENGINES: readonly EngineSetting[] = ['auto', 'interpreter', 'bt', 'check'];
const MAX_NAME = 64;
/** Boot protocol 2.06+ kernels take a command line of up to cmdline_size (2047 on x86) bytes. */
const MAX_CMDLINE = 2047;
/** New blank disks: LBA48 reaches far beyond this; the bound keeps a typo from filling the host's disk. */
export const MAX_NEW_DISK_MIB = 2 * 1024 * 1024;

export function defaultSettings(): VmCreateSettings {
  return {
    name: '',
    memoryMiB: 256,
    engine: 'auto',
    boot: 'kernel',
    kernelPath: '',
    initrdPath: '',
    cmdline: 'console=ttyS0',
    hdaPath: '',
    cdromPath: '',
    serial: 'console',
    net: 'user',
    mac: '',
    hostAccess: false,
    forwards: '',
    exposeForwards: false,
    folders: [],
  };
}

/** The settings object with every field present and of the right type, or field errors. */
export function normalizeSettings(input: unknown): { settings: VmCreateSettings; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const o = (input && typeof input === 'object' ? input : {}) as Record<string, unknown>;
  const str = (k: keyof VmSettings): string => {
    const v = o[k];
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') {
      errors.push({ field: k, message: `${k} must be text` });
      return '';
    }
    return v;
  };
  const flag = (k: 'hostAccess' | 'exposeForwards'): boolean => {
    const v = o[k];
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') errors.push({ field: k, message: `${k} must be true or false` });
    return v === true;
  };
  const memoryRaw = o.memoryMiB;
  const memoryMiB = typeof memoryRaw === 'string' && /^\s*\d+\s*$/.test(memoryRaw) ? Number(memoryRaw) : memoryRaw;
  const newDiskRaw = o.newDiskMiB;
  const newDiskMiB = newDiskRaw === undefined || newDiskRaw === null || newDiskRaw === '' ? undefined : typeof newDiskRaw === 'string' && /^\s*\d+\s*$/.test(newDiskRaw) ? Number(newDiskRaw) : newDiskRaw;
  const settings: VmCreateSettings = {
    name: str('name').trim(),
    memoryMiB: typeof memoryMiB === 'number' ? memoryMiB : NaN,
    engine: str('engine') as EngineSetting,
    boot: str('boot') as VmSettings['boot'],
    kernelPath: str('kernelPath').trim(),
    initrdPath: str('initrdPath').trim(),
    cmdline: str('cmdline'),
    hdaPath: str('hdaPath').trim(),
    cdromPath: str('cdromPath').trim(),
    serial: str('serial') as VmSettings['serial'],
    // Absent network fields (clients older than networking) mean the defaults.
    net: (o.net === undefined ? 'user' : str('net')) as VmSettings['net'],
    mac: str('mac').trim().toLowerCase(),
    hostAccess: flag('hostAccess'),
    forwards: str('forwards'),
    exposeForwards: flag('exposeForwards'),
    folders: folderList(o.folders, errors),
    ...(newDiskMiB !== undefined ? { newDiskMiB: typeof newDiskMiB === 'number' ? newDiskMiB : NaN } : {}),
  };
  return { settings, errors };
}

function folderList(v: unknown, errors: FieldError[]): VmSettings['folders'] {
  if (v === undefined || v === null) return [];
  // readOnly left out means writable (as the other flags mean false), but a value that is not a
  // yes or no is refused: read as false, it would give the guest a folder the user meant to protect.
  const flag = (x: unknown): boolean => x === undefined || x === null || typeof x === 'boolean';
  if (!Array.isArray(v) || !v.every((f) => f && typeof f === 'object' && typeof f.path === 'string' && flag(f.readOnly))) {
    errors.push({ field: 'folders', message: 'folders must be a list of {path, readOnly}' });
    return [];
  }
  return v.map((f: { path: string; readOnly?: unknown }) => ({ path: f.path.trim(), readOnly: f.readOnly === true }));
}

function folderProblem(path: string, scope: ImageScope): string | null {
  if (!isAbsolute(path)) return `Give the full path of the folder (${path || 'an empty path'} is not).`;
  try {
    if (!statSync(path).isDirectory()) return `${path} is not a folder.`;
    const refusal = folderRefusal(path, scope);
    return refusal ? refusal.replace(/^./, (c) => c.toUpperCase()) + '.' : null;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `${path} does not exist.` : `${path}: ${(e as Error).message}`;
  }
}

function fileProblem(what: string, path: string): string | null {
  if (!isAbsolute(path)) return `Give the full path of the ${what} (${path} is relative).`;
  try {
    const st = statSync(path);
    if (!st.isFile()) return `${path} is not a file.`;
    const fd = openSync(path, 'r');
    closeSync(fd);
    return null;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `${path} does not exist.`;
    if (code === 'EACCES') return `${path} cannot be read (permission denied).`;
    return `${path}: ${(e as Error).message}`;
  }
}

/**
 * What is wrong with the kernel at `path`, from its headers: only its first KERNEL_HEAD_BYTES are
 * read (the power-on reads it whole). Reading a large file whole here held up the host's event loop,
 * every VM's console with it: 18 s for a 1.5 GB file given by mistake.
 */
function kernelProblem(path: string): string | null {
  const p = fileProblem('kernel', path);
  if (p) return p;
  try {
    const size = statSync(path).size;
    if (size > MAX_BOOT_FILE) return `${path} is ${sizeText(size)}; a kernel can be at most 2 GiB.`;
    const head = new Uint8Array(Math.min(size, KERNEL_HEAD_BYTES));
    const fd = openSync(path, 'r');
    try {
      readFull(fd, head, head.length, 0);
    } finally {
      closeSync(fd);
    }
    kernelKind(head, size);
    return null;
  } catch (e) {
    const m = (e as Error).message;
    return m.charAt(0).toUpperCase() + m.slice(1) + '.';
  }
}

function startsWithQcow2Magic(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const b = new Uint8Array(4);
    return readSync(fd, b, 0, 4, 0) === 4 && b[0] === 0x51 && b[1] === 0x46 && b[2] === 0x49 && b[3] === 0xfb;
  } finally {
    closeSync(fd);
  }
}

function imageProblem(what: string, path: string, sector: number, writable: boolean, scope: ImageScope): string | null {
  const p = fileProblem(what, path);
  if (p) return p;
  const refusal = imageRefusal(path, writable, scope);
  if (refusal) return refusal.charAt(0).toUpperCase() + refusal.slice(1) + '.';
  const size = statSync(path).size;
  if (size === 0) return `${path} is empty.`;
  // A qcow2 image's file size says nothing of its disk's (the qcow2 engine checks its header at power-on).
  if (writable && startsWithQcow2Magic(path)) return null;
  if (size % sector !== 0) return `${path} has ${size} bytes, not a whole number of ${sector}-byte sectors: is it a raw ${what}?`;
  // A readable first sector: catches special files and images on unreadable media early.
  const fd = openSync(path, 'r');
  try {
    readSync(fd, new Uint8Array(sector), 0, sector, 0);
  } finally {
    closeSync(fd);
  }
  return null;
}

export interface SettingsContext {
  /** Another VM already has this name (names are unique, case-insensitively). */
  nameTaken(name: string): boolean;
  /** Why host pseudo-terminals cannot be offered here, or null when they can. */
  ptyUnavailable(): string | null;
  /** Checks for a VM being created: a new blank disk may be asked for. */
  creating: boolean;
  /** Where in Hostbox's data folder this VM's images may be. */
  imageScope: ImageScope;
}

/** Every problem with `s`, each tied to its field; empty when the settings can be saved. */
export function validateSettings(s: VmCreateSettings, ctx: SettingsContext): FieldError[] {
  const errors: FieldError[] = [];
  const err = (field: SettingsField, message: string): void => {
    if (!errors.some((e) => e.field === field)) errors.push({ field, message });
  };
  if (!s.name) err('name', 'Give the VM a name.');
  else if (s.name.length > MAX_NAME) err('name', `Keep the name to ${MAX_NAME} characters.`);
  else if (/[\u0000-\u001f\u007f]/.test(s.name)) err('name', 'The name cannot contain control characters.');
  else if (ctx.nameTaken(s.name)) err('name', `A VM named "${s.name}" already exists.`);

  if (!Number.isInteger(s.memoryMiB) || s.memoryMiB < MIN_MEMORY_MIB || s.memoryMiB > MAX_MEMORY_MIB)
    err('memoryMiB', `Memory must be a whole number of MiB from ${MIN_MEMORY_MIB} to ${MAX_MEMORY_MIB}.`);
  if (!ENGINES.includes(s.engine)) err('engine', `Choose an engine: ${ENGINES.join(', ')}.`);
  if (s.serial !== 'console' && s.serial !== 'pty') err('serial', 'Choose where the serial port goes: console or pty.');
  else if (s.serial === 'pty') {
    const why = ctx.ptyUnavailable();
    if (why) err('serial', why);
  }

  if (s.boot === 'kernel') {
    if (!s.kernelPath) err('kernelPath', 'Give the path of a kernel (a Linux bzImage or a Multiboot kernel).');
    else {
      const p = kernelProblem(s.kernelPath);
      if (p) err('kernelPath', p);
    }
    if (s.initrdPath) {
      const p = fileProblem('initial ramdisk', s.initrdPath);
      if (p) err('initrdPath', p);
    }
    if (new TextEncoder().encode(s.cmdline).length > MAX_CMDLINE) err('cmdline', `The kernel command line is limited to ${MAX_CMDLINE} bytes.`);
    else if (/[\r\n\0]/.test(s.cmdline)) err('cmdline', 'The kernel command line is one line.');
  } else if (s.boot !== 'disk' && s.boot !== 'cdrom') err('boot', 'Choose what the VM boots: a Linux kernel, its hard disk or its CD.');

  if (s.newDiskMiB !== undefined) {
    if (!ctx.creating) err('newDiskMiB', 'A new disk can only be made when the VM is created.');
    else if (s.hdaPath) err('newDiskMiB', 'Choose an existing disk image or a new disk, not both.');
    else if (!Number.isInteger(s.newDiskMiB) || s.newDiskMiB < 1 || s.newDiskMiB > MAX_NEW_DISK_MIB)
      err('newDiskMiB', `A new disk must be a whole number of MiB from 1 to ${MAX_NEW_DISK_MIB}.`);
  }
  if (s.hdaPath) {
    const p = imageProblem('disk image', s.hdaPath, 512, true, ctx.imageScope);
    if (p) err('hdaPath', p);
  }
  if (s.cdromPath) {
    const p = imageProblem('CD image', s.cdromPath, 2048, false, ctx.imageScope);
    if (p) err('cdromPath', p);
  }
  if (s.net !== 'user' && s.net !== 'none') err('net', 'Choose the network: user-mode NAT or none.');
  if (s.mac) {
    try {
      parseMac(s.mac);
    } catch (e) {
      err('mac', (e as Error).message.replace(/^./, (c) => c.toUpperCase()) + '.');
    }
  }
  const seen = new Set<string>();
  for (const line of forwardLines(s.forwards)) {
    let f: ParsedForward;
    try {
      f = parseForward(line);
    } catch (e) {
      err('forwards', (e as Error).message.replace(/^./, (c) => c.toUpperCase()) + '.');
      break;
    }
    const key = `${f.proto}:${f.hostAddress}:${f.hostPort}`;
    if (seen.has(key)) err('forwards', `${f.proto} port ${f.hostPort} on ${f.hostAddress} is forwarded twice.`);
    seen.add(key);
    if (f.exposed && !s.exposeForwards) err('forwards', `"${line}" binds ${f.hostAddress}, which other machines can reach: allow forwards on other addresses first, or use 127.0.0.1.`);
  }
  if (s.boot === 'disk' && !s.hdaPath && !s.cdromPath && s.newDiskMiB === undefined) err('boot', 'A VM that boots from disks needs a hard disk or a CD image.');
  if (s.boot === 'cdrom' && !s.cdromPath) err('cdromPath', 'A VM that boots from its CD needs a CD image.');
  for (const f of s.folders) {
    const p = folderProblem(f.path, ctx.imageScope);
    if (p) err('folders', p);
  }
  try {
    ideSlotsForFolders({ hdaPath: s.hdaPath || (s.newDiskMiB !== undefined ? 'new' : undefined), cdromPath: s.cdromPath || undefined }, s.folders.length);
  } catch (e) {
    err('folders', (e as Error).message.replace(/^./, (c) => c.toUpperCase()) + '.');
  }
  return errors;
}

/** The non-empty lines of a forwards setting. */
export function forwardLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
}
