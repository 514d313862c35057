import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFromVmm, parseToVmm } from './protocol.ts';
import { VmmProcess } from './vmm-process.ts';
import type { FromVmm } from './protocol.ts';

test('messages into the VMM are checked at the boundary', () => {
  assert.throws(() => parseToVmm(null), /not an object/);
  assert.throws(() => parseToVmm({ kind: 'teleport' }), /unknown message kind/);
  assert.throws(() => parseToVmm({ kind: 'console', port: 9, data: new Uint8Array(1) }), /serial port/);
  assert.throws(() => parseToVmm({ kind: 'console', port: 0, data: 'text' }), /bytes/);
  assert.throws(() => parseToVmm({ kind: 'input', scancodes: [0x1e, 999] }), /scancodes/);
  assert.throws(() => parseToVmm({ kind: 'lifecycle', op: 'start' }), /config/);
  assert.throws(() => parseToVmm({ kind: 'lifecycle', op: 'explode' }), /unknown lifecycle/);
  assert.deepEqual(parseToVmm({ kind: 'input', scancodes: [0x1e, 0x9e] }), { kind: 'input', scancodes: [0x1e, 0x9e] });
  assert.throws(() => parseFromVmm({ kind: 'console', port: 0, data: [1] }), /bytes/);
});

test('the VMM loop reports a bad start as fatal and ignores malformed input', () => {
  const posted: FromVmm[] = [];
  const vmm = new VmmProcess((m) => posted.push(m), { now: () => 0, soon: () => {}, later: () => 0, cancel: () => {} });
  vmm.receive({ kind: 'lifecycle', op: 'start', config: { memoryMiB: 1, engine: 'interpreter' } });
  assert.equal(posted[0]?.kind, 'fatal');
  assert.match((posted[0] as { message: string }).message, /memory size 1 MiB is not possible/);
  vmm.receive({ kind: 'bogus' });
  assert.equal(posted[1]?.kind, 'log');
});

test('the fake machine echoes serial input and powers off, through the loop', () => {
  const posted: FromVmm[] = [];
  const queue: (() => void)[] = [];
  const vmm = new VmmProcess((m) => posted.push(m), { now: () => 0, soon: (f) => queue.push(f), later: () => 0, cancel: () => {} });
  vmm.receive({ kind: 'lifecycle', op: 'start', config: { memoryMiB: 16, engine: 'interpreter' }, fake: 'echo' });
  vmm.receive({ kind: 'console', port: 0, data: new TextEncoder().encode('poweroff\n') });
  while (queue.length) queue.shift()!();
  const kinds = posted.map((m) => (m.kind === 'lifecycle' ? `lifecycle:${m.event}` : m.kind));
  assert.deepEqual(kinds, ['lifecycle:started', 'console', 'lifecycle:poweroff']);
});

test('the net channel carries Ethernet frames both ways and the cable state in; anything else is refused', () => {
  const f = new Uint8Array(60);
  assert.deepEqual(parseToVmm({ kind: 'net', frame: f }), { kind: 'net', frame: f });
  assert.deepEqual(parseToVmm({ kind: 'net', link: false }), { kind: 'net', link: false });
  assert.deepEqual(parseFromVmm({ kind: 'net', frame: f }), { kind: 'net', frame: f });
  assert.throws(() => parseToVmm({ kind: 'net', frame: new Uint8Array(13) }), /13 bytes/);
  assert.throws(() => parseToVmm({ kind: 'net', frame: new Uint8Array(1519) }), /1519 bytes/);
  assert.throws(() => parseFromVmm({ kind: 'net', frame: 'x' }), /bytes/);
  assert.throws(() => parseToVmm({ kind: 'lifecycle', op: 'start', config: { memoryMiB: 16, nic: { mac: [1, 2, 3] } } }), /6 bytes/);
});
