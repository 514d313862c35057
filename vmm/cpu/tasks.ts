// Hardware task switching (SDM vol. 3 ch. 7). Placeholder signature for the interrupt path; the full
// switch (JMP/CALL/IRET/interrupt through TSS descriptors and task gates) is in progress.

import type { Cpu } from './cpu.ts';

export const enum TaskSwitchReason {
  Jmp = 0,
  Call = 1,
  Iret = 2,
  Interrupt = 3,
}

export function taskSwitch(cpu: Cpu, selector: number, _reason: TaskSwitchReason, _hasCode: boolean, _code: number, ext: number): void {
  // Not yet implemented: behave like an invalid TSS so the guest sees an exception, not a host crash.
  cpu.raiseTS((selector & 0xfffc) + ext);
}
