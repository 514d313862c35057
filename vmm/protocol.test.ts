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

test('state messages are checked before the VMM acts on them', () => {
  assert.deepEqual(parseToVmm({ kind: 'state', op: 'save', extra: 1 }), { kind: 'state', op: 'save' });
  const sec = { id: 'cpu', version: 1, data: new Uint8Array(2) };
  assert.deepEqual(parseToVmm({ kind: 'state', op: 'load', sections: [sec] }), { kind: 'state', op: 'load', sections: [sec] });
  assert.throws(() => parseToVmm({ kind: 'state', op: 'load', sections: [{ id: 'cpu', version: 1.5, data: new Uint8Array(1) }] }), /id and a version/);
  assert.throws(() => parseToVmm({ kind: 'state', op: 'load', sections: [{ id: 'cpu', version: 1, data: 'x' }] }), /bytes/);
  assert.throws(() => parseToVmm({ kind: 'state', op: 'ram', runs: [{ firstPage: -1, data: new Uint8Array(4096) }] }), /first page/);
  assert.throws(() => parseToVmm({ kind: 'state', op: 'rewind' }), /unknown state op/);
});

test('a suspend is refused without a machine, and a restore commits all or nothing', () => {
  const posted: FromVmm[] = [];
  const vmm = new VmmProcess((m) => posted.push(m), { now: () => 0, soon: () => {}, later: () => 0, cancel: () => {} });
  vmm.receive({ kind: 'state', op: 'save' });
  assert.equal(posted[0]?.kind, 'state');
  assert.match((posted[0] as { message: string }).message, /cannot be suspended/);
  // A restore whose sections do not fit the machine ends the VMM with the reason, never running.
  const bios = new Uint8Array(0x10000);
  vmm.receive({ kind: 'lifecycle', op: 'start', config: { memoryMiB: 16, engine: 'interpreter', bios }, restore: true });
  assert.deepEqual(posted[1], { kind: 'lifecycle', event: 'started' });
  vmm.receive({ kind: 'state', op: 'load', sections: [{ id: 'cpu', version: 1, data: new Uint8Array(3) }] });
  vmm.receive({ kind: 'state', op: 'commit' });
  assert.equal(posted[2]?.kind, 'fatal');
  assert.match((posted[2] as { message: string }).message, /lacks the section clock/);
});
