// A VM's power state as a coloured chip, in the library list and the VM's header.
import type { VmPower } from '../../main/api-types.ts';

const LABEL: Record<VmPower, string> = { off: 'Powered off', starting: 'Starting', running: 'Running', halted: 'Halted', crashed: 'Crashed', suspending: 'Suspending…', suspended: 'Suspended' };

export function PowerChip(props: { power: VmPower }) {
  return <span className={`chip chip-${props.power}`}>{LABEL[props.power]}</span>;
}
