// `start.js --exit-when-idle`: the app as the command line starts it in the background (`hostbox
// start` with no app open), which ends by itself once none of its VMs has run for a while, as
// VirtualBox's VBoxSVC does when its last client and VM are gone. An app the user started stays.

import type { VmLibrary } from './library/library.ts';
import type { HostEvent } from './api-types.ts';

/** How long the app waits after its last VM stopped (and at start, for the first one) before it ends. */
export const IDLE_EXIT_MS = 10_000;

export function exitWhenIdle(host: { library: VmLibrary; subscribe(l: (e: HostEvent) => void): () => void }, stop: () => void, idleMs = IDLE_EXIT_MS): void {
  let timer: NodeJS.Timeout | null = null;
  const busy = (): boolean => host.library.list().some((vm) => vm.power === 'starting' || vm.power === 'running' || vm.power === 'halted');
  const check = (): void => {
    if (busy()) {
      if (timer) clearTimeout(timer);
      timer = null;
    } else if (!timer) {
      timer = setTimeout(() => {
        timer = null;
        if (!busy()) stop();
      }, idleMs);
    }
  };
  host.subscribe((e) => {
    if (e.type === 'vm' || e.type === 'vm-deleted') check();
  });
  check();
}
