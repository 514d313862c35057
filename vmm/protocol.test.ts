import { test } from 'node:test';
import assert from 'node:assert/strict';
import { netBatch, parseFromVmm, parseToVmm } from './protocol.ts';
import { VmmProcess } from './vmm-process.ts';
import { createFakeMachine } from './fake-machine.ts';
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
  const vmm = new VmmProcess((m) => posted.push(m), { now: () => 0, soon: (f) => queue.push(f), later: () => 0, cancel: () => {} }, createFakeMachine);
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

test('serial output leaves the VMM batched: one message per turn, flushed before any other message', () => {
  const posted: FromVmm[] = [];
  const queue: (() => void)[] = [];
  const vmm = new VmmProcess((m) => posted.push(m), { now: () => 0, soon: (f) => queue.push(f), later: () => 0, cancel: () => {} }, createFakeMachine);
  vmm.receive({ kind: 'lifecycle', op: 'start', config: { memoryMiB: 16, engine: 'interpreter' }, fake: 'echo' });
  for (const c of 'echo') vmm.receive({ kind: 'console', port: 0, data: new TextEncoder().encode(c) });
  vmm.receive({ kind: 'console', port: 1, data: new Uint8Array([0x41]) });
  // A message to post (a status answer) takes the gathered output out first, keeping the order.
  vmm.receive({ kind: 'lifecycle', op: 'status' });
  vmm.receive({ kind: 'console', port: 0, data: new TextEncoder().encode('!') });
  while (queue.length) queue.shift()!();
  const summary = posted.map((m) => (m.kind === 'console' ? `console${m.port}:${new TextDecoder().decode(m.data)}` : m.kind === 'lifecycle' ? `lifecycle:${m.event}` : m.kind));
  assert.deepEqual(summary, ['lifecycle:started', 'console0:echo', 'console1:A', 'status', 'console0:!']);
});

test('every message kind from the VMM is checked before the host acts on it', () => {
  const text = { kind: 'text', cols: 2, rows: 1, cells: new Uint16Array(2), cursor: { row: 0, col: 1, visible: true } };
  const gfx = { kind: 'graphics', format: 'indexed', width: 4, height: 2, pixels: new Uint8Array(8), palette: new Uint8Array(768) };
  assert.deepEqual(parseFromVmm({ kind: 'display', screen: text, extra: 1 }), { kind: 'display', screen: text });
  assert.deepEqual(parseFromVmm({ kind: 'display', screen: gfx }), { kind: 'display', screen: gfx });
  assert.throws(() => parseFromVmm({ kind: 'display', screen: { ...text, cells: new Uint16Array(3) } }), /cols \* rows/);
  assert.throws(() => parseFromVmm({ kind: 'display', screen: { ...text, cursor: null } }), /cursor/);
  assert.throws(() => parseFromVmm({ kind: 'display', screen: { ...gfx, pixels: new Uint8Array(7) } }), /does not match the size/);
  assert.throws(() => parseFromVmm({ kind: 'display', screen: { ...gfx, width: 100000, height: 100000 } }), /whole number from 0 to 4096/);
  assert.throws(() => parseFromVmm({ kind: 'display', screen: { ...gfx, format: 'yuv' } }), /format/);
  assert.throws(() => parseFromVmm({ kind: 'display', screen: { ...gfx, palette: new Uint8Array(3) } }), /palette/);
  assert.throws(() => parseFromVmm({ kind: 'display', screen: null }), /screen must be an object/);

  assert.deepEqual(parseFromVmm({ kind: 'block', req: { tag: 1, disk: 'hda', op: 'read', lba: 0, count: 8 } }), { kind: 'block', req: { tag: 1, disk: 'hda', op: 'read', lba: 0, count: 8 } });
  assert.throws(() => parseFromVmm({ kind: 'block', req: { tag: 1, disk: 'hda', op: 'erase', lba: 0, count: 1 } }), /block op/);
  assert.throws(() => parseFromVmm({ kind: 'block', req: { tag: 1, disk: 'hda', op: 'read', lba: -1, count: 1 } }), /block lba/);
  assert.throws(() => parseFromVmm({ kind: 'block', req: { tag: 1, disk: 'hda', op: 'read', lba: 0, count: 1e9 } }), /block count/);
  assert.throws(() => parseFromVmm({ kind: 'block', req: { tag: 1, disk: 'hda', op: 'write', lba: 0, count: 1 } }), /needs data/);
  assert.throws(() => parseFromVmm({ kind: 'block', req: { tag: 'x', disk: 'hda', op: 'read', lba: 0, count: 1 } }), /block tag/);
  assert.throws(() => parseFromVmm({ kind: 'block', req: { tag: 1, disk: {}, op: 'read', lba: 0, count: 1 } }), /block disk/);

  assert.deepEqual(parseFromVmm({ kind: 'lifecycle', event: 'poweroff', detail: 'ACPI' }), { kind: 'lifecycle', event: 'poweroff', detail: 'ACPI' });
  // A guest halted for good (HLT with interrupts off), with its CS:EIP.
  assert.deepEqual(parseFromVmm({ kind: 'lifecycle', event: 'halted', detail: '0060:c1234567' }), { kind: 'lifecycle', event: 'halted', detail: '0060:c1234567' });
  assert.throws(() => parseFromVmm({ kind: 'lifecycle', event: 'explode' }), /unknown lifecycle event/);
  assert.throws(() => parseFromVmm({ kind: 'lifecycle', event: 'reset', detail: 42 }), /detail/);
  assert.throws(() => parseFromVmm({ kind: 'status', running: 'yes', stats: {} }), /running and stats/);
  assert.throws(() => parseFromVmm({ kind: 'log', level: 'debug', message: 'x' }), /log level/);
  assert.throws(() => parseFromVmm({ kind: 'log', level: 'info', message: {} }), /log message/);
  assert.throws(() => parseFromVmm({ kind: 'fatal', message: 'x'.repeat(70_000) }), /fatal message/);
});

test('the stand-in machine is chosen by the start message itself, and only a known one', () => {
  const config = { memoryMiB: 16, engine: 'interpreter' };
  assert.equal((parseToVmm({ kind: 'lifecycle', op: 'start', config, fake: 'echo' }) as { fake?: string }).fake, 'echo');
  assert.throws(() => parseToVmm({ kind: 'lifecycle', op: 'start', config, fake: 'rootkit' }), /unknown fake machine/);
});

test('the net channel carries Ethernet frames both ways and the cable state in; anything else is refused', () => {
  const f = new Uint8Array(60);
  assert.deepEqual(parseToVmm({ kind: 'net', frames: [f, f] }), { kind: 'net', frames: [f, f] });
  assert.deepEqual(parseToVmm({ kind: 'net', link: false }), { kind: 'net', link: false });
  assert.deepEqual(parseFromVmm({ kind: 'net', frames: [f] }), { kind: 'net', frames: [f] });
  assert.throws(() => parseToVmm({ kind: 'net', frames: [f, new Uint8Array(13)] }), /13 bytes/);
  assert.throws(() => parseToVmm({ kind: 'net', frames: [new Uint8Array(1519)] }), /1519 bytes/);
  assert.throws(() => parseFromVmm({ kind: 'net', frames: ['x'] }), /bytes/);
  assert.throws(() => parseFromVmm({ kind: 'net', frames: [] }), /1-512 frames/);
  assert.throws(() => parseToVmm({ kind: 'net', frames: new Array(513).fill(f) }), /1-512 frames/);
  assert.throws(() => parseToVmm({ kind: 'net', frames: f }), /list/);
  assert.throws(() => parseToVmm({ kind: 'lifecycle', op: 'start', config: { memoryMiB: 16, nic: { mac: [1, 2, 3] } } }), /6 bytes/);
});

test('a build without stand-ins refuses to start one', () => {
  const posted: FromVmm[] = [];
  const vmm = new VmmProcess((m) => posted.push(m), { now: () => 0, soon: () => {}, later: () => 0, cancel: () => {} });
  vmm.receive({ kind: 'lifecycle', op: 'start', config: { memoryMiB: 16, engine: 'interpreter' }, fake: 'echo' });
  assert.deepEqual(posted, [{ kind: 'fatal', message: 'stand-in machines are not part of this build' }]);
});

test('the ACPI power button crosses the boundary and reaches the machine (the stand-in powers off, as a guest that handles it)', () => {
  assert.deepEqual(parseToVmm({ kind: 'lifecycle', op: 'power-button' }), { kind: 'lifecycle', op: 'power-button' });
  const posted: FromVmm[] = [];
  const queue: (() => void)[] = [];
  const vmm = new VmmProcess((m) => posted.push(m), { now: () => 0, soon: (f) => queue.push(f), later: () => 0, cancel: () => {} }, createFakeMachine);
  vmm.receive({ kind: 'lifecycle', op: 'start', config: { memoryMiB: 16, engine: 'interpreter' }, fake: 'echo' });
  vmm.receive({ kind: 'lifecycle', op: 'power-button' });
  while (queue.length) queue.shift()!();
  assert.deepEqual(
    posted.map((m) => (m.kind === 'lifecycle' ? `lifecycle:${m.event}` : m.kind)),
    ['lifecycle:started', 'lifecycle:poweroff'],
  );
});

test('netBatch moves frames that own their buffer and copies views into larger ones, each buffer listed once', () => {
  const own = new Uint8Array(60).fill(1);
  const ram = new Uint8Array(4096);
  const view = ram.subarray(100, 160);
  const b = netBatch([own, view, own]);
  assert.equal(b.frames[0], own);
  assert.notEqual(b.frames[1]!.buffer, ram.buffer, 'a view into guest RAM is copied, never moved');
  assert.deepEqual(b.frames[1], view);
  assert.deepEqual(b.transfer, [own.buffer, b.frames[1]!.buffer]);
  // Posting moves them: the copy of RAM goes, RAM stays.
  const { port1, port2 } = new MessageChannel();
  port1.postMessage({ kind: 'net', frames: b.frames }, b.transfer);
  assert.equal(own.byteLength, 0);
  assert.equal(ram.byteLength, 4096);
  port1.close();
  port2.close();
});

test('mouse and media messages: whole numbers in range, anything else refused', () => {
  assert.deepEqual(parseToVmm({ kind: 'mouse', dx: -5, dy: 7, dz: 1, buttons: 5 }), { kind: 'mouse', dx: -5, dy: 7, dz: 1, buttons: 5 });
  for (const bad of [{ dx: 0.5 }, { dx: 1e9 }, { dy: '1' }, { buttons: 32 }, { buttons: -1 }, { dz: NaN }])
    assert.throws(() => parseToVmm({ kind: 'mouse', dx: 0, dy: 0, dz: 0, buttons: 0, ...bad }), /mouse/);
  assert.deepEqual(parseToVmm({ kind: 'media', sectors: 0 }), { kind: 'media', sectors: 0 });
  assert.deepEqual(parseToVmm({ kind: 'media', sectors: 1234, extra: 1 }), { kind: 'media', sectors: 1234 });
  for (const sectors of [-1, 1.5, '3', 2 ** 33]) assert.throws(() => parseToVmm({ kind: 'media', sectors }), /media/);
});

test('the VMM reports instructions and busy time unasked about once a second', () => {
  const posted: FromVmm[] = [];
  const queue: (() => void)[] = [];
  let now = 0;
  const vmm = new VmmProcess((m) => posted.push(m), { now: () => (now += 150), soon: (f) => queue.push(f), later: (f) => queue.push(f), cancel: () => {} }, createFakeMachine);
  vmm.receive({ kind: 'lifecycle', op: 'start', config: { memoryMiB: 16, engine: 'interpreter' }, fake: 'echo' });
  for (let i = 0; i < 20 && queue.length; i++) queue.shift()!();
  const reports = posted.filter((m) => m.kind === 'status');
  // Each slice takes 150 ms of this clock: 20 slices are 3 s, so about three reports, not twenty.
  assert.ok(reports.length >= 2 && reports.length <= 4, `${reports.length} status reports`);
  const busy = reports.map((r) => (r as { busyMs: number }).busyMs);
  assert.ok(busy.every((b, i) => b > 0 && (i === 0 || b > busy[i - 1]!)), `busy time grows: ${busy.join(', ')}`);
  assert.deepEqual(parseFromVmm({ kind: 'status', running: true, stats: { instructions: 5, guestTimeNs: 1 }, busyMs: 12 }), { kind: 'status', running: true, stats: { instructions: 5, guestTimeNs: 1 }, busyMs: 12 });
  assert.throws(() => parseFromVmm({ kind: 'status', running: true, stats: { instructions: 5, guestTimeNs: 1 }, busyMs: -1 }), /busyMs/);
});
