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
  /** The declared fields (vmm/state/schema.ts) that saveState and loadState follow. */
  readonly stateSchema: StateSchema<unknown>;
  saveState(): StateRecord;
  /** Restores fields and recomputes derived ones; never touches another device or raises IRQs. */
  loadState(state: StateRecord, version: number): void;
}

export interface Device extends Snapshotable {
  reset(kind: ResetKind): void;
  /** Called after every device is loaded so level-triggered lines are driven again. */
  reassertInterrupts?(): void;
}
