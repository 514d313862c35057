// Writes the interpreter's code generated from the one instruction table (vmm/cpu/gen/): today
// vmm/cpu/ops/integer-ops.generated.ts. Usage: node --import tsx scripts/gen-ops.ts
// Run it after changing vmm/cpu/gen/integer-table.ts or its renderer; vmm/cpu/gen/gen.test.ts fails
// until the checked-in file is what this writes.
import { renameSync, writeFileSync } from 'node:fs';
import { renderIntegerOps } from '../vmm/cpu/gen/render-ops.ts';

export const GENERATED = new URL('../vmm/cpu/ops/integer-ops.generated.ts', import.meta.url).pathname;

if (import.meta.url === `file://${process.argv[1]}`) {
  const tmp = `${GENERATED}.tmp`;
  writeFileSync(tmp, renderIntegerOps());
  renameSync(tmp, GENERATED);
  console.log(`wrote ${GENERATED}`);
}
