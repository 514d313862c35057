// The serial console's feed into a real xterm.js terminal (never opened, so no DOM is needed): what a
// guest's bytes may do to it, and how history and live output are joined.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import xterm from '@xterm/xterm';
import { SerialFeed } from './serial-feed.ts';

const { Terminal } = xterm;

/** Latin-1 text of bytes, as the host sends the serial stream (one character per byte). */
const latin1 = (bytes: number[]): string => String.fromCharCode(...bytes);
const utf8 = (s: string): string => latin1([...new TextEncoder().encode(s)]);

function terminal(): InstanceType<typeof Terminal> {
  return new Terminal({ cols: 60, rows: 8 });
}

/** The screen's lines (rows the terminal wrapped joined again) once everything written so far has been parsed. */
async function screen(t: InstanceType<typeof Terminal>): Promise<string> {
  await new Promise<void>((r) => t.write('', r));
  const lines: string[] = [];
  for (let i = 0; i < t.buffer.active.length; i++) {
    const row = t.buffer.active.getLine(i)!;
    if (row.isWrapped && lines.length) lines[lines.length - 1] += row.translateToString(true);
    else lines.push(row.translateToString(true));
  }
  return lines.join('\n').trimEnd();
}

test('history and live output join at their stream offsets, the overlap shown once', async () => {
  const t = terminal();
  const feed = new SerialFeed(t);
  feed.live('cdef', 2);
  feed.history({ text: 'abcd', end: 4 });
  feed.live('fgh', 5);
  assert.equal(await screen(t), 'abcdefgh');
});

test('guest UTF-8 whose bytes fall in 0x80-0x9F does not hide the output after it', async () => {
  // Cyrillic "Пр" is D0 9F D1 80: as Latin-1 code points 0x9F is APC, which would swallow everything
  // up to a string terminator; "А" is D0 90, 0x90 being DCS. A serial line carries bytes, not C1 controls.
  const t = terminal();
  const feed = new SerialFeed(t);
  feed.history({ text: `${utf8('Пр')} one\r\n`, end: 0 });
  feed.live(`${utf8('А')} two\r\nthree\r\n`, 0);
  const s = await screen(t);
  assert.match(s, / one\n/);
  assert.match(s, / two\nthree$/);
});

test("a guest's OSC 8 hyperlink is shown as its text only, not as a link to open", async () => {
  const t = terminal();
  const feed = new SerialFeed(t);
  feed.history({ text: '', end: 0 });
  feed.live('\x1b]8;;https://attacker.example/login\x1b\\Log in to Hostbox\x1b]8;;\x1b\\ after\r\n', 0);
  assert.equal(await screen(t), 'Log in to Hostbox after');
  // xterm.js keeps an OSC 8 target in its link service (id 1 is the first link); nothing public says so.
  const links = (t as unknown as { _core: { _oscLinkService: { getLinkData(id: number): unknown } } })._core._oscLinkService;
  assert.equal(links.getLinkData(1), undefined);
});

test('output held back while the history is on its way is bounded', () => {
  let written = 0;
  const feed = new SerialFeed({ write: (d: string | Uint8Array) => void (written += d.length), parser: terminal().parser });
  const chunk = 'x'.repeat(64 * 1024);
  // A chatty guest while serialLog is slow to answer: 64 MiB of live output.
  for (let i = 0; i < 1024; i++) feed.live(chunk, i * chunk.length);
  feed.history({ text: '', end: 0 });
  assert.ok(written > 0, 'the newest output is shown');
  assert.ok(written <= 4 * 1024 * 1024, `${written} characters were held for the terminal`);
});

test('when the history cannot be fetched, live output is shown anyway', async () => {
  const t = terminal();
  const feed = new SerialFeed(t);
  feed.live('early\r\n', 100);
  feed.historyFailed('the connection to Hostbox was lost');
  feed.live('later\r\n', 107);
  const s = await screen(t);
  assert.match(s, /the connection to Hostbox was lost/);
  assert.match(s, /early\nlater$/);
});
