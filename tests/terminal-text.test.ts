import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TerminalText } from './terminal-text.ts';

test('cursor moves inside a word, as SeaBIOS sercon sends them, leave the word whole', () => {
  const t = new TerminalText();
  t.push('\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS (version 1.16.2)\r\nThe CD ca\x1b[05;09H\x1b[05;10Hme first\r\nboot:');
  assert.equal(t.text, 'SeaBIOS (version 1.16.2)\r\nThe CD came first\r\nboot:');
});

test('a sequence cut between chunks is held until its final byte', () => {
  const t = new TerminalText();
  for (const chunk of ['Loading /vmlinuz.', '..\x1b', '[0', '5;1', '0H ok', '\x1b]0;title\x07!', '\x1b']) t.push(chunk);
  assert.equal(t.text, 'Loading /vmlinuz... ok!');
  t.push('7x');
  assert.equal(t.text, 'Loading /vmlinuz... ok!x');
});

test('a malformed CSI drops only its introducer', () => {
  const t = new TerminalText();
  t.push('a\x1b[12\nb');
  assert.equal(t.text, 'a\nb');
});
