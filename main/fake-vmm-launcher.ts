// Test fixture: a VMM launcher whose "guest" is a shell that echoes serial input like a terminal in
// cooked mode and answers `uname -r`, so host-side tests (API, web mode in a browser) run in
// milliseconds. Booting the real guest is tests/guest-boot.test.ts and tests/browser-guest.test.ts.

import type { VmmLauncher } from './api.ts';

export const FAKE_RELEASE = '6.1.0-fake';

export function fakeVmmLauncher(opts: { crashOn?: string } = {}): VmmLauncher & { launched: number } {
  const start: VmmLauncher = async (spec, handlers) => {
    launcher.launched++;
    // The real launcher refuses what it cannot load; so does this one, for the same error paths.
    if (spec.kernelPath === undefined) throw new Error('nothing to boot');
    const say = (s: string): void => handlers.serial(0, new TextEncoder().encode(s));
    let alive = true;
    setTimeout(() => alive && say('HOSTBOX-GUEST-READY\r\n/ # '), 20);
    let line = '';
    return {
      sendSerial(_port, data) {
        if (!alive) return;
        const s = new TextDecoder().decode(data);
        say(s.replace(/\r/g, '\r\n'));
        line += s;
        if (!line.includes('\r')) return;
        const cmd = line.trim();
        line = '';
        if (opts.crashOn && cmd === opts.crashOn) {
          alive = false;
          handlers.state('crashed', 'RuntimeError: the fake VMM fell over');
          return;
        }
        if (cmd === 'uname -r') say(`${FAKE_RELEASE}\r\n`);
        if (cmd === 'halt') {
          // A guest that ends in CLI; HLT: still running, but it will never go on.
          handlers.state('halted', '0060:c1234567');
          return;
        }
        if (cmd === 'poweroff') {
          alive = false;
          handlers.state('poweroff');
          return;
        }
        say('/ # ');
      },
      sendKeys() {},
      reset() {
        if (alive) handlers.state('reset');
        if (alive) say('\r\n[reset]\r\nHOSTBOX-GUEST-READY\r\n/ # ');
      },
      powerButton() {
        // As the test guest's init does: the button powers it off.
        if (!alive) return;
        alive = false;
        handlers.state('poweroff');
      },
      async stop() {
        if (!alive) return;
        alive = false;
        handlers.state('stopped');
      },
    };
  };
  const launcher = Object.assign(start, { launched: 0 });
  return launcher;
}
