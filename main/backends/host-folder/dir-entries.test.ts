import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  caseBits,
  exactShortName,
  fromFatTime,
  longNameProblem,
  makeAlias,
  shortDisplayName,
  shortKey,
  shortNameChecksum,
  toFatTime,
  writeLongEntries,
  longEntryUnits,
  NTRES_LOWER_BASE,
  NTRES_LOWER_EXT,
} from './dir-entries.ts';
import { hostNameProblem } from './folder-sync.ts';

const bytes = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

test('the short-name checksum is fatgen103 ChkSum (rotate right, add), computed independently here', () => {
  const ref = (n: Uint8Array): number => {
    let s = 0;
    for (const b of n) s = ((s >> 1) | ((s & 1) << 7)) + b, (s &= 0xff);
    return s;
  };
  for (const n of ['README  TXT', 'ALONGF~1TEX', 'CAF__N~1TXT', '_          ']) assert.equal(shortNameChecksum(bytes(n)), ref(bytes(n)));
  assert.notEqual(shortNameChecksum(bytes('README  TXT')), shortNameChecksum(bytes('README  TXU')));
});

test('8.3 names, case bits and aliases follow the basis-name and numeric-tail rules', () => {
  assert.equal(shortKey(exactShortName('readme.txt')!), 'README  TXT');
  assert.equal(exactShortName('toolongname.txt'), null);
  assert.equal(exactShortName('a.b.c'), null);
  assert.equal(exactShortName('with space'), null);
  assert.equal(caseBits('readme.TXT'), NTRES_LOWER_BASE);
  assert.equal(caseBits('README.txt'), NTRES_LOWER_EXT);
  assert.equal(caseBits('ReadMe.txt'), null);
  const taken = new Set<string>();
  assert.equal(shortKey(makeAlias('A long file name with spaces.text', taken)), 'ALONGF~1TEX');
  assert.equal(shortKey(makeAlias('A long file name with other.text', taken)), 'ALONGF~2TEX');
  assert.equal(shortKey(makeAlias('café ünïcödé ☃.txt', taken)), 'CAF__N~1TXT');
  assert.equal(shortKey(makeAlias('.bashrc', taken)), 'BASHRC~1   ');
  assert.equal(shortKey(makeAlias('ReadMe.Txt', taken)), 'README  TXT', 'a mixed-case 8.3 name keeps its upper-case form');
  assert.equal(shortKey(makeAlias('readme.TXT', taken)), 'README~1TXT', 'unless taken');
  const tails = new Map<string, number>();
  for (let i = 1; i <= 12; i++) assert.equal(shortKey(makeAlias(`same prefix ${i}`, taken, tails)), i < 10 ? `SAMEPR~${i}   ` : `SAMEP~${i}   `);
});

test('short names holding bytes above 7Fh read as code page 437 letters, never as control characters', () => {
  const name11 = (base: number[], ext: string): Uint8Array => {
    const b = new Uint8Array(11).fill(0x20);
    b.set(base, 0);
    b.set(bytes(ext), 8);
    return b;
  };
  // DOS and Windows store an 8.3 name such as "ÉTÉ.TXT" in the OEM code page, with no long name.
  assert.equal(shortDisplayName(name11([0x90, 0x54, 0x90], 'TXT'), 0), 'ÉTÉ.TXT');
  assert.equal(shortDisplayName(name11([0x80, 0xa5, 0xe1], 'TXT'), NTRES_LOWER_BASE), 'çñß.TXT');
  // fatgen103: a first byte of 05h stands for E5h, which is sigma in code page 437.
  assert.equal(shortDisplayName(name11([0x05, 0x41], ''), 0), 'σA');
  for (let b = 0x80; b <= 0xff; b++) {
    const n = shortDisplayName(name11([0x41, b], 'TXT'), 0);
    assert.equal(n.length, 6, `byte ${b.toString(16)}h is one character`);
    assert.ok(n.charCodeAt(1) >= 0xa0, `byte ${b.toString(16)}h reads as ${JSON.stringify(n)}, not a control character`);
  }
});

test('long names round-trip through long entries in UTF-16, with the terminator and FFFFh padding', () => {
  const name = 'Ünïcödé ☃ and a 😀 beyond the BMP.txt';
  assert.equal(name.length, 37, 'the emoji takes two UTF-16 units');
  const buf = new Uint8Array(32 * 3);
  assert.equal(writeLongEntries(buf, 0, name, 0x5a), 96);
  const units: number[] = [];
  // Physically last entry holds the first 13 characters.
  for (let k = 2; k >= 0; k--) units.push(...longEntryUnits(buf, k * 32));
  assert.equal(String.fromCharCode(...units.slice(0, name.length)), name);
  assert.equal(units[name.length], 0);
  assert.ok(units.slice(name.length + 1).every((u) => u === 0xffff));
  assert.deepEqual([buf[0], buf[32], buf[64]], [0x40 | 3, 2, 1]);
  assert.ok([0, 32, 64].every((o) => buf[o + 11] === 0x0f && buf[o + 13] === 0x5a));
});

test('names a FAT or the host cannot hold are refused with a reason', () => {
  for (const n of ['a:b', 'q?', 'x*', 'tab\there', 'dot.', 'space ', 'x'.repeat(256)]) assert.ok(longNameProblem(n), n);
  assert.equal(longNameProblem('ordinary name.txt'), null);
  for (const n of ['..', '.', 'a/b', 'nul\0', 'é'.repeat(200), '.hostbox-sync-1', '\ud800x']) assert.ok(hostNameProblem(n), JSON.stringify(n));
  assert.equal(hostNameProblem('café ☃.txt'), null);
});

test('FAT times are local, two-second, and clamped to 1980-2107', () => {
  const t = new Date(2024, 6, 15, 13, 45, 31, 500).getTime();
  const f = toFatTime(t);
  assert.equal(fromFatTime(f.date, f.time), new Date(2024, 6, 15, 13, 45, 30).getTime());
  assert.equal(f.tenths, 150);
  assert.equal(fromFatTime(toFatTime(new Date(1970, 0, 1).getTime()).date, 0), new Date(1980, 0, 1).getTime());
});
