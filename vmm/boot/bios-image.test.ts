import { test } from 'node:test';
import assert from 'node:assert/strict';
import { biosSizeProblem } from './bios-image.ts';

const KiB = 1024;

test('a BIOS image is whole 64 KiB blocks from 64 KiB to 2 MiB; any other size is refused with it named', () => {
  for (const ok of [64 * KiB, 128 * KiB, 192 * KiB, 256 * KiB, 2048 * KiB]) assert.equal(biosSizeProblem(ok), null, String(ok));
  for (const bad of [0, 1, 32 * KiB, 64 * KiB + 1, 2048 * KiB + 64 * KiB, 16 * 1024 * KiB, 2 ** 32]) {
    assert.equal(biosSizeProblem(bad), `a BIOS image must be 64 KiB to 2 MiB in whole 64 KiB blocks, not ${bad} bytes`);
  }
});
