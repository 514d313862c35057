// A folder disk in a saved-state file (docs/state-format.md, "Host folders"): the host's own
// sections, beside the VMM's. "host-folder/<slot>" holds the disk's description (FolderDiskState as
// JSON text), and "host-folder/<slot>/sectors" sections, as many as needed, the overlay's sectors
// (the guest's writes, and the sectors the image made up itself). They are checked on reading like
// everything in the file: a damaged or hand-made one is refused with one line naming it.

import type { StateSection } from '../../../vmm/machine-api.ts';
import { decodeRecord, encodeRecord } from '../../../vmm/state/codec.ts';
import type { FolderDisk, FolderDiskState } from './folder-disk.ts';

export const FOLDER_SECTION_PREFIX = 'host-folder/';
const VERSION = 1;

export interface SavedFolder {
  readonly state: FolderDiskState;
  readonly sectors: { lba: number; data: Uint8Array }[];
}

/** The sections that save `disk` (on IDE position `slot`). */
export function folderSections(slot: string, disk: FolderDisk): StateSection[] {
  const { state, sectors } = disk.saveState();
  const out: StateSection[] = [{ id: `${FOLDER_SECTION_PREFIX}${slot}`, version: VERSION, data: encodeRecord({ disk: JSON.stringify(state) }) }];
  for (const s of sectors) out.push({ id: `${FOLDER_SECTION_PREFIX}${slot}/sectors`, version: VERSION, data: encodeRecord({ lba: s.lba, data: s.data }) });
  return out;
}

/** Splits a state's sections into the VMM's and the saved folder disks by slot; throws an Error naming what is wrong. */
export function splitFolderSections(sections: readonly StateSection[]): { vmm: StateSection[]; folders: Map<string, SavedFolder> } {
  const vmm: StateSection[] = [];
  const states = new Map<string, FolderDiskState>();
  const sectors = new Map<string, { lba: number; data: Uint8Array }[]>();
  for (const s of sections) {
    if (!s.id.startsWith(FOLDER_SECTION_PREFIX)) {
      vmm.push(s);
      continue;
    }
    if (s.version !== VERSION) throw new Error(`section ${s.id} has version ${s.version}; this Hostbox reads version ${VERSION}`);
    const rest = s.id.slice(FOLDER_SECTION_PREFIX.length);
    const rec = decodeRecord(s.data, s.id);
    if (rest.endsWith('/sectors')) {
      const slot = rest.slice(0, -'/sectors'.length);
      const { lba, data } = rec;
      if (typeof lba !== 'number' || !Number.isInteger(lba) || lba < 0 || !(data instanceof Uint8Array) || data.length === 0 || data.length % 512)
        throw new Error(`section ${s.id} is not a run of whole sectors`);
      let list = sectors.get(slot);
      if (!list) sectors.set(slot, (list = []));
      list.push({ lba, data });
    } else {
      if (typeof rec.disk !== 'string') throw new Error(`section ${s.id} lacks the disk's description`);
      let st: unknown;
      try {
        st = JSON.parse(rec.disk);
      } catch {
        throw new Error(`section ${s.id}: the disk's description is not valid JSON`);
      }
      const problem = stateProblem(st);
      if (problem) throw new Error(`section ${s.id}: ${problem}`);
      states.set(rest, st as FolderDiskState);
    }
  }
  const folders = new Map<string, SavedFolder>();
  for (const [slot, state] of states) {
    const list = sectors.get(slot) ?? [];
    for (const r of list) if (r.lba + r.data.length / 512 > state.sectors) throw new Error(`section ${FOLDER_SECTION_PREFIX}${slot}/sectors lies beyond its disk`);
    folders.set(slot, { state, sectors: list });
  }
  for (const slot of sectors.keys()) if (!states.has(slot)) throw new Error(`sectors of folder disk ${slot} are saved, but not the disk itself`);
  return { vmm, folders };
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isStamp = (v: unknown): boolean => {
  const s = v as Record<string, unknown>;
  return typeof v === 'object' && v !== null && isNum(s.dev) && isNum(s.ino) && isNum(s.size) && isNum(s.mtimeMs);
};
const isRuns = (v: unknown): boolean => Array.isArray(v) && v.every((r) => Array.isArray(r) && r.length === 2 && isInt(r[0]) && isInt(r[1]) && r[0] >= 0 && r[1] > 0);
/** A relative path of names under the folder: never absolute, never "..", never empty parts. */
const isRel = (v: unknown, rootOk: boolean): boolean => typeof v === 'string' && (v === '' ? rootOk : v.split('/').every((p) => p !== '' && p !== '.' && p !== '..' && !p.includes('\0')));

/** Why a saved folder disk's description cannot be used, or null. */
function stateProblem(v: unknown): string | null {
  if (typeof v !== 'object' || v === null) return 'the disk description is not an object';
  const s = v as Record<string, unknown>;
  if (typeof s.folder !== 'string' || typeof s.root !== 'string' || !s.root.startsWith('/')) return 'the folder is not named';
  if (typeof s.readOnly !== 'boolean' || typeof s.retry !== 'boolean') return 'flags are missing';
  if (!isInt(s.sectors) || s.sectors < 1 || !isInt(s.dataStart) || s.dataStart < 1 || s.dataStart >= s.sectors) return 'the disk geometry is damaged';
  if (!isInt(s.sectorsPerCluster) || s.sectorsPerCluster < 1 || s.sectorsPerCluster > 128 || (s.fatType !== 16 && s.fatType !== 32)) return 'the file system geometry is damaged';
  if (!isRuns(s.dirty)) return 'the written-since list is damaged';
  if (!Array.isArray(s.sources)) return 'the file sources are missing';
  for (const x of s.sources as Record<string, unknown>[])
    if (typeof x !== 'object' || x === null || !isInt(x.first) || x.first < 2 || !isInt(x.count) || x.count < 1 || !isInt(x.offset) || x.offset < 0 || !isRel(x.rel, false) || !isStamp(x.stamp))
      return 'a file source is damaged';
  if (!Array.isArray(s.baseline)) return 'the baseline is missing';
  for (const p of s.baseline as Record<string, unknown>[])
    if (typeof p !== 'object' || p === null || (p.kind !== 'file' && p.kind !== 'dir') || !isRel(p.rel, true) || !isInt(p.cluster) || !isNum(p.size) || !isRuns(p.runs) || !isStamp(p.stamp))
      return 'a baseline entry is damaged';
  if (!(s.baseline as { rel: string }[]).some((p) => p.rel === '')) return 'the baseline lacks the folder itself';
  return null;
}
