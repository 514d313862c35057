// General-purpose integer instructions not covered by alu.ts/control.ts (being written).
import type { OpTable } from '../decode.ts';

export function registerInteger(_t: OpTable): void {}
