// Stand-ins for the emulated PC used by host-side tests (CLI, process handling, UI), so they run in
// milliseconds instead of booting Linux. Selected only by the host, never by guest input.

import type { FakeMachineKind } from './protocol.ts';
import type { Machine, MachineHost, VmConfig } from './machine-api.ts';

export function createFakeMachine(kind: FakeMachineKind, _config: VmConfig, host: MachineHost): Machine {
  if (kind === 'crash') throw new Error('fake machine: failing on start as asked');
  let off = false;
  let line = '';
  return {
    runSlice: () => (off ? 'off' : 'halted'),
    idleMs: () => Infinity,
    pause() {},
    resume() {},
    reset: () => host.power('reset'),
    // As an OS that honours the button: it powers off.
    powerButton() {
      off = true;
      host.power('poweroff');
    },
    serialIn(port, bytes) {
      // Echo like a terminal, and power off on a "poweroff" line, like the test guest's shell.
      host.serialOut(port, bytes);
      for (const b of bytes) {
        if (b === 0x0d || b === 0x0a) {
          if (line.trim() === 'poweroff') {
            off = true;
            host.power('poweroff');
          } else if (line.trim() === 'halt') {
            // As a guest that ends in CLI; HLT: stopped for good.
            host.power('halted', '0060:c1234567');
          } else if (line.trim() === 'crash') {
            throw new Error('fake machine: crashing as asked');
          }
          line = '';
        } else line += String.fromCharCode(b);
      }
    },
    keyboard() {},
    blockReply() {},
    netIn() {},
    setLink() {},
    mouse() {},
    changeCdrom: () => false,
    stats: () => ({ instructions: 0, guestTimeNs: 0 }),
  };
}
