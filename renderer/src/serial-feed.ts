// What reaches a VM's serial console in xterm.js: the host's history of the stream (serialLog), then
// live output ('serial' events) joined to it by stream offset. Live output that arrives before the
// history is held back, then trimmed where the two overlap.
//
// The stream is the guest's, so hostile: it may use the terminal's escape sequences (colours, cursor
// moves: what a serial console is for) but nothing that reaches past the terminal. Bytes are shown
// as Latin-1, one character per byte, and xterm.js reads the code points 0x80-0x9F as 8-bit C1
// controls: a guest's UTF-8 ("А" is D0 90, 0x90 being DCS) would open a control string that swallows
// all later output. A serial line carries bytes, not C1 controls, so those bytes are shown as U+FFFD.
// OSC 8 hyperlinks are shown as their text only: clicking one would have the page (after a confirm()
// in the guest's words) open the address the guest chose.
import type { Terminal } from '@xterm/xterm';

export type SerialTerminal = Pick<Terminal, 'write' | 'parser'>;

/**
 * Live output held while the history is on its way: beyond this many characters the oldest is
 * dropped (the terminal's 5000 lines of scrollback would not keep more), so a chatty guest and a
 * history that is slow to come cannot grow the page without bound.
 */
const HELD_LIMIT = 1 << 20;

const C1 = /[\x80-\x9f]/g;
const shownAsBytes = (s: string): string => s.replace(C1, '\ufffd');

export class SerialFeed {
  /** Where what the terminal has shown ends in the stream; -1 until the history is in. */
  private shown = -1;
  private held: { data: string; offset: number }[] = [];
  private heldChars = 0;

  constructor(private readonly term: SerialTerminal) {
    // Handled here, so xterm.js's own OSC 8 handler never records the link.
    term.parser.registerOscHandler(8, () => true);
  }

  /** The history from serialLog: the stream's text up to `end`. */
  history(log: { text: string; end: number }): void {
    this.term.write(shownAsBytes(log.text));
    this.shown = log.end;
    this.release();
  }

  /** serialLog failed: the output held and what follows is shown without what came before. */
  historyFailed(reason: string): void {
    this.term.write(`\x1b[36m[the console's earlier output could not be fetched: ${reason.replace(/[\x00-\x1f\x7f-\x9f]/g, ' ')}]\x1b[0m\r\n`);
    this.shown = this.held[0]?.offset ?? 0;
    this.release();
  }

  /** A 'serial' event: `data` starts at `offset` in the stream. */
  live(data: string, offset: number): void {
    if (this.shown >= 0) return this.show(data, offset);
    this.held.push({ data, offset });
    this.heldChars += data.length;
    if (this.heldChars > 2 * HELD_LIMIT) {
      // Dropped in one go down to the limit, so a flood of small events costs no copy per event.
      let n = 0;
      while (this.heldChars > HELD_LIMIT && n < this.held.length - 1) this.heldChars -= this.held[n++]!.data.length;
      this.held.splice(0, n);
    }
  }

  private release(): void {
    for (const e of this.held) this.show(e.data, e.offset);
    this.held = [];
    this.heldChars = 0;
  }

  private show(data: string, offset: number): void {
    const skip = this.shown - offset;
    if (skip >= data.length) return;
    this.term.write(shownAsBytes(skip > 0 ? data.slice(skip) : data));
    this.shown = offset + data.length;
  }
}
