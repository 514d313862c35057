// Far transfers, privilege-sensitive flag instructions and protection queries (being written).
import type { OpTable } from '../decode.ts';

export function registerProtection(_t: OpTable): void {}
