// The one instruction table every engine uses, assembled from the per-concern opcode modules.

import { OpTable } from './decode.ts';
import { registerAlu } from './ops/alu.ts';
import { registerControl } from './ops/control.ts';
import { registerSystem } from './ops/system.ts';
import { registerInteger } from './ops/integer.ts';
import { registerProtection } from './ops/protection.ts';
import { registerMmx } from './ops/mmx.ts';

let shared: OpTable | null = null;

/** The table is immutable once built, so every CPU shares one. */
export function buildOpTable(): OpTable {
  if (shared) return shared;
  const t = new OpTable();
  registerAlu(t);
  registerControl(t);
  registerSystem(t);
  registerInteger(t);
  registerProtection(t);
  registerMmx(t);
  shared = t;
  return t;
}
