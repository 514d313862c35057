// The general-purpose integer instructions, by concern.
import type { OpTable } from '../decode.ts';
import { registerMov } from './mov.ts';
import { registerStack } from './stack.ts';
import { registerArith } from './arith.ts';
import { registerShift } from './shift.ts';
import { registerBits } from './bits.ts';
import { registerBcd } from './bcd.ts';
import { registerString } from './string.ts';

export function registerInteger(t: OpTable): void {
  registerMov(t);
  registerStack(t);
  registerArith(t);
  registerShift(t);
  registerBits(t);
  registerBcd(t);
  registerString(t);
}
