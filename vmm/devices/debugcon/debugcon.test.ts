import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IoBus } from '../../bus.ts';
import { DebugCon } from './debugcon.ts';

test('reads back 0xE9; lines go to the sink without CRs, unprintable bytes shown as dots', () => {
  const io = new IoBus();
  const lines: string[] = [];
  const d = new DebugCon(0x402, (l) => lines.push(l));
  for (const r of d.ioRanges) io.register(r);
  assert.equal(io.read(0x402, 1), 0xe9);
  for (const b of new TextEncoder().encode('SeaBIOS\r\nx\u0001y\n')) io.write(0x402, 1, b);
  assert.deepEqual(lines, ['SeaBIOS', 'x.y']);
});

test('a flooding guest is cut off: long lines are truncated and the line count is capped until reset', () => {
  const lines: string[] = [];
  const d = new DebugCon(0xe9, (l) => lines.push(l));
  const w = d.ioRanges[0]!;
  for (let i = 0; i < 1000; i++) w.write(0, 1, 0x41);
  w.write(0, 1, 0x0a);
  assert.equal(lines[0]!.length, 256);
  for (let i = 0; i < 30000; i++) w.write(0, 1, 0x0a);
  assert.equal(lines.length, 20000);
  assert.match(lines.at(-1)!, /further output dropped/);
  d.reset('hard');
  w.write(0, 1, 0x0a);
  assert.equal(lines.length, 20001);
});
