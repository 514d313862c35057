// The schema machinery and the field encoding on their own: types and ranges are enforced, older
// versions load with the fields they had, parts follow their owner, and hostile bytes give a
// StateError, never a crash or a changed prototype.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asVersion, defineState, loadBySchema, saveBySchema, StateError } from './schema.ts';
import { decodeRecord, encodeRecord } from './codec.ts';

class Part {
  a = 1;
  b = true;
}
class Thing {
  small = 7;
  big = 0xdeadbeef;
  signed = -5;
  wide = 0x0123456789abcdefn;
  words = new Uint16Array([1, 0xffff]);
  ints = new Int32Array([-1, 2]);
  added = 0;
  part: Part | null = new Part();
  upgraded = -1;
}

const PART = defineState<Part>({ id: 'part', version: 1, fields: [{ name: 'a', type: 'u8', since: 1 }, { name: 'b', type: 'bool', since: 1 }] });
const THING = defineState<Thing>({
  id: 'thing',
  version: 2,
  fields: [
    { name: 'small', type: 'u8', since: 1, mask: 0x0f },
    { name: 'big', type: 'u32', since: 1 },
    { name: 'signed', type: 'i32', since: 1 },
    { name: 'wide', type: 'u64', since: 1 },
    { name: 'words', type: 'u16[]', since: 1, length: 2 },
    { name: 'ints', type: 'i32[]', since: 1, length: 2 },
    { name: 'part', type: 'record', since: 1, record: PART, of: (t) => t.part },
    { name: 'added', type: 'f64', since: 2 },
  ],
  postLoad: (t, v) => (t.upgraded = v),
});

test('save and load round trip, typed arrays as little-endian bytes, 64-bit values as 8 bytes', () => {
  const a = new Thing();
  a.added = 2.5;
  const rec = saveBySchema(THING, a);
  assert.deepEqual(rec.words, new Uint8Array([1, 0, 0xff, 0xff]));
  assert.deepEqual(rec.wide, new Uint8Array([0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01]));
  const b = new Thing();
  b.small = b.big = b.signed = 0;
  b.words.fill(0);
  const liveWords = b.words;
  loadBySchema(THING, b, decodeRecord(encodeRecord(rec), 'thing'), 2);
  assert.equal(b.words, liveWords, 'typed arrays are filled in place (other views may alias them)');
  assert.deepEqual(saveBySchema(THING, b), rec);
  assert.equal(b.upgraded, 2);
});

test('an older version loads with the fields it had; postLoad learns which', () => {
  const rec = asVersion(THING, saveBySchema(THING, new Thing()), 1);
  assert.equal('added' in rec, false);
  const t = new Thing();
  loadBySchema(THING, t, rec, 1);
  assert.equal(t.upgraded, 1);
  assert.throws(() => loadBySchema(THING, new Thing(), rec, 2), /version 2 lacks the field "added"/);
  assert.throws(() => loadBySchema(THING, new Thing(), saveBySchema(THING, new Thing()), 1), /unknown field "added"/);
  assert.throws(() => loadBySchema(THING, new Thing(), rec, 3), /version 3 comes from a newer Hostbox \(this one reads versions 1-2\)/);
  assert.throws(() => loadBySchema(THING, new Thing(), rec, 0), /version 0 is not a version/);
});

test('types, ranges, lengths and masks are enforced; nothing changes when a field is bad', () => {
  const good = saveBySchema(THING, new Thing());
  const bad: [string, unknown, RegExp][] = [
    ['small', 256, /"small" is not a u8/],
    ['big', -1, /"big" is not a u32/],
    ['signed', 2 ** 31, /"signed" is not a i32/],
    ['signed', 1.5, /not a i32/],
    ['wide', new Uint8Array(7), /"wide" is not 8 bytes/],
    ['words', new Uint8Array(3), /not whole u16\[\] elements/],
    ['ints', new Uint8Array(12), /holds 3 elements, expected 2/],
    ['added', NaN, /"added" is not a finite number/],
    ['part', 5, /"part" is not a record/],
  ];
  for (const [field, value, re] of bad) {
    const t = new Thing();
    assert.throws(() => loadBySchema(THING, t, { ...good, [field]: value as never }, 2), (e: Error) => e instanceof StateError && re.test(e.message), field);
    assert.deepEqual(saveBySchema(THING, t), good, `${field}: the thing is unchanged`);
  }
  const t = new Thing();
  loadBySchema(THING, t, { ...good, small: 0xff }, 2);
  assert.equal(t.small, 0x0f, 'only the bits a register holds are loaded');
});

test('a part present on one side and absent on the other is named', () => {
  const rec = saveBySchema(THING, new Thing());
  const none = new Thing();
  none.part = null;
  assert.throws(() => loadBySchema(THING, none, rec, 2), /saved "part" is present, in this machine it is absent/);
  assert.deepEqual(saveBySchema(THING, none).part, null);
  assert.throws(() => loadBySchema(THING, new Thing(), saveBySchema(THING, none), 2), /saved "part" is absent/);
});

test('schemas are checked when declared', () => {
  assert.throws(() => defineState({ id: 'x', version: 1, fields: [{ name: 'a', type: 'u8', since: 1 }, { name: 'a', type: 'u8', since: 1 }] }), /declared twice/);
  assert.throws(() => defineState({ id: 'x', version: 1, fields: [{ name: 'a', type: 'u8', since: 2 }] }), /added in version 2, outside 1-1/);
  assert.throws(() => defineState({ id: 'x', version: 1, fields: [{ name: 'a', type: 'record', since: 1 }] }), /needs both a record schema and a part/);
});

test('the encoding refuses hostile bytes with a StateError', () => {
  const ok = encodeRecord({ a: 1, b: [true, null, 'x', new Uint8Array([1])], c: { d: false } });
  assert.deepEqual(decodeRecord(ok, 's'), { a: 1, b: [true, null, 'x', new Uint8Array([1])], c: { d: false } });
  for (let n = 0; n < ok.length; n++) assert.throws(() => decodeRecord(ok.subarray(0, n), 's'), StateError, `cut at ${n}`);
  assert.throws(() => decodeRecord(new Uint8Array([...ok, 0]), 's'), /bytes follow the fields/);
  assert.throws(() => decodeRecord(new Uint8Array([9]), 's'), /unknown value tag 9/);
  // A list claiming four billion elements.
  assert.throws(() => decodeRecord(new Uint8Array([7, 1, 0, 0, 0, 1, 0, 0x61, 6, 0xff, 0xff, 0xff, 0xff]), 's'), /longer than the section/);
  // Nesting deeper than any component uses.
  const deep = new Uint8Array([7, 1, 0, 0, 0, 1, 0, 0x61, ...Array.from({ length: 40 }, () => [6, 1, 0, 0, 0]).flat(), 0]);
  assert.throws(() => decodeRecord(deep, 's'), /nest too deeply/);
  // A field named __proto__ would replace the record's prototype.
  const proto = new Uint8Array([7, 1, 0, 0, 0, 9, 0, ...new TextEncoder().encode('__proto__'), 7, 0, 0, 0, 0]);
  assert.throws(() => decodeRecord(proto, 's'), /__proto__/);
  const twice = new Uint8Array([7, 2, 0, 0, 0, 1, 0, 0x61, 2, 1, 0, 0x61, 3]);
  assert.throws(() => decodeRecord(twice, 's'), /field "a" appears twice/);
});
