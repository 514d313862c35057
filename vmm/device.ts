// What every device model shares: explicit reset and saved state declared by name.

import type { StateSchema } from './state/schema.ts';

/** power: cold start; hard: RESET pin (keyboard controller 0xFE, triple fault); soft: INIT-like. */
export type ResetKind = 'power' | 'hard' | 'soft';

/** A saved-state value: plain data only, so sections serialize without knowing the device. */
export type StateValue =
  | number
  | boolean
  | string
  | null
  | Uint8Array
  | StateValue[]
  | { [key: string]: StateValue };

export type StateRecord = { [key: string]: StateValue };

/**
 * A component with saved state. `stateVersion` is bumped when fields change meaning; loadState gets
 * the version the state was written with and must accept every older version it claims to, or
 * throw an Error naming the component and the versions.
 */
export interface Snapshotable {
  readonly stateId: string;
  readonly stateVersion: number;
  /**
   * The declared fields (vmm/state/schema.ts) that saveState and loadState follow. Every device of
   * the PC has one except the PCnet, whose hand-written pair (below's helpers) is still to convert.
   */
  readonly stateSchema?: StateSchema<unknown>;
  saveState(): StateRecord;
  /** Restores fields and recomputes derived ones; never touches another device or raises IRQs. */
  loadState(state: StateRecord, version: number): void;
}

export interface Device extends Snapshotable {
  reset(kind: ResetKind): void;
  /** Called after every device is loaded so level-triggered lines are driven again. */
  reassertInterrupts?(): void;
}

// For hand-written loadState (the PCnet's); a schema checks its fields itself.
export function stateNumber(s: StateRecord, key: string): number {
  const v = s[key];
  if (typeof v !== 'number') throw new Error(`saved state: field "${key}" is missing or not a number`);
  return v;
}

export function stateBytes(s: StateRecord, key: string, length?: number): Uint8Array {
  const v = s[key];
  if (!(v instanceof Uint8Array)) throw new Error(`saved state: field "${key}" is missing or not bytes`);
  if (length !== undefined && v.length !== length)
    throw new Error(`saved state: field "${key}" has ${v.length} bytes, expected ${length}`);
  return v;
}

export function stateBool(s: StateRecord, key: string): boolean {
  const v = s[key];
  if (typeof v !== 'boolean') throw new Error(`saved state: field "${key}" is missing or not a boolean`);
  return v;
}
