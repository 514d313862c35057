// What a person reads on a serial console, without the terminal's control sequences. SeaBIOS's
// serial console (sercon) mirrors the VGA screen and, whenever its timer-driven flush finds the
// cursor elsewhere than it left it, sends a cursor position (ECMA-48 CUP) even in the middle of a
// word: "The CD ca\e[05;09H\e[05;10Hme first". Tests match text, so they read this stream.
const ESC = 0x1b;

/** Feeds terminal output in chunks (a sequence may be cut between two) and keeps the plain text. */
export class TerminalText {
  text = '';
  private pending = '';

  push(chunk: string): void {
    const s = this.pending + chunk;
    this.pending = '';
    let i = 0;
    while (i < s.length) {
      const esc = s.indexOf(String.fromCharCode(ESC), i);
      if (esc < 0) {
        this.text += s.slice(i);
        return;
      }
      this.text += s.slice(i, esc);
      const end = sequenceEnd(s, esc);
      if (end < 0) {
        this.pending = s.slice(esc);
        return;
      }
      i = end;
    }
  }
}

/** Index just past the escape sequence starting at `at`, or -1 when it is not complete yet. */
function sequenceEnd(s: string, at: number): number {
  if (at + 1 >= s.length) return -1;
  const kind = s.charCodeAt(at + 1);
  if (kind === 0x5b) {
    // CSI: parameter bytes 0x30-0x3F, intermediate bytes 0x20-0x2F, one final byte 0x40-0x7E.
    for (let j = at + 2; j < s.length; j++) {
      const c = s.charCodeAt(j);
      if (c >= 0x40 && c <= 0x7e) return j + 1;
      if (c < 0x20 || c > 0x3f) return j; // malformed: drop the introducer, keep what follows
    }
    return -1;
  }
  if (kind === 0x5d) {
    // OSC: up to BEL or ST (ESC \).
    for (let j = at + 2; j < s.length; j++) {
      if (s.charCodeAt(j) === 0x07) return j + 1;
      if (s.charCodeAt(j) === ESC) return j + 1 < s.length ? j + 2 : -1;
    }
    return -1;
  }
  // Two-character sequences (RIS "ESC c", DECSC "ESC 7", ...), with any intermediate bytes.
  let j = at + 1;
  while (j < s.length && s.charCodeAt(j) >= 0x20 && s.charCodeAt(j) <= 0x2f) j++;
  return j < s.length ? j + 1 : -1;
}

/** Console text without the lines the host adds at power events (main/api.ts separator()). */
export function withoutHostMarks(s: string): string {
  return s.replace(/\r\n\x1b\[36m-{8} [^\x1b]* -{8}\x1b\[0m\r\n/g, '');
}
