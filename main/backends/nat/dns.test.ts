import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { lookup } from 'node:dns/promises';
import { HOST_LOOKUPS, resolveDnsQuery } from './dns.ts';

/** A standard query for `name`, type A, class IN. */
function query(id: number, name: string): Uint8Array {
  const labels = name.split('.').flatMap((l) => [l.length, ...Buffer.from(l)]);
  return new Uint8Array([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, 1, 0, 1]);
}

test('host lookups, from however many queries, hold at most HOST_LOOKUPS of the thread pool the disks share', async () => {
  let running = 0;
  let most = 0;
  const release: (() => void)[] = [];
  // A nameserver that answers only when told: each call holds a pool thread until then.
  const slow = (async () => {
    running++;
    most = Math.max(most, running);
    await new Promise<void>((r) => release.push(r));
    running--;
    return [{ address: '192.0.2.7', family: 4 }];
  }) as unknown as typeof lookup;
  const answers = Array.from({ length: 12 }, (_, i) => resolveDnsQuery(query(i + 1, `host${i}.example`), slow));
  let done = 0;
  while (done < 12) {
    await new Promise((r) => setImmediate(r));
    assert.ok(running <= HOST_LOOKUPS, `${running} lookups at once`);
    const r = release.shift();
    if (r) {
      r();
      done++;
    }
  }
  const all = await Promise.all(answers);
  assert.equal(most, HOST_LOOKUPS);
  // Every query was answered, in the end, with its address.
  for (const a of all) assert.deepEqual([...a!.subarray(a!.length - 4)], [192, 0, 2, 7]);
});

test('a lookup that fails gives its place to the next', async () => {
  let calls = 0;
  const failing = (async () => {
    calls++;
    throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
  }) as unknown as typeof lookup;
  const answers = await Promise.all(Array.from({ length: 2 * HOST_LOOKUPS + 3 }, (_, i) => resolveDnsQuery(query(i + 1, 'nowhere.example'), failing)));
  assert.equal(calls, 2 * HOST_LOOKUPS + 3);
  // NXDOMAIN (RCODE 3) for each.
  for (const a of answers) assert.equal(a![3]! & 0x0f, 3);
});
