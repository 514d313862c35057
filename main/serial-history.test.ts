import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SerialHistory } from './serial-history.ts';

test('the history keeps exactly the newest bytes, across wrap-arounds and appends larger than itself', () => {
  let seed = 12345;
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
  const h = new SerialHistory(1000);
  let all = '';
  assert.equal(h.text(), '');
  for (let i = 0; i < 400; i++) {
    // Mostly small writes (a guest printing), sometimes more than the whole ring.
    const n = rand(10) === 0 ? 900 + rand(1500) : rand(40);
    const bytes = new Uint8Array(n);
    for (let k = 0; k < n; k++) bytes[k] = 0x20 + rand(0x5f);
    h.append(bytes);
    all += String.fromCharCode(...bytes);
    assert.equal(h.total, all.length);
    assert.equal(h.text(), all.slice(-1000), `after append ${i} of ${n} bytes`);
  }
});

test('every byte is one character (Latin-1), so stream positions count both', () => {
  const h = new SerialHistory(8);
  h.append(new Uint8Array([0x41, 0xe9, 0x00, 0xff, 0x0d, 0x0a]));
  assert.equal(h.text().length, 6);
  assert.equal(h.text()[1], 'é');
});
