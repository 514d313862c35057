import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EntryMap } from './entry-map.ts';

test('an entry map answers exactly for the addresses added, page by page', () => {
  const m = new EntryMap();
  m.add(0x12345);
  m.add(0x12346);
  m.add(0xfffff000);
  assert.ok(m.has(0x12345) && m.has(0x12346) && m.has(0xfffff000));
  // Neighbours, the same offset of another page, and the same bit of another word stay out.
  for (const phys of [0x12344, 0x12347, 0x13345, 0x11345, 0x12325, 0xfffff001]) assert.ok(!m.has(phys), phys.toString(16));
  assert.equal(m.pages, 2);
  m.remove(0x12345);
  assert.ok(!m.has(0x12345) && m.has(0x12346));
  m.remove(0x12346);
  // The page's last entry gone: its slot is given back.
  assert.equal(m.pages, 1);
  m.clearPage(0xfffff);
  assert.ok(!m.has(0xfffff000));
  assert.equal(m.pages, 0);
});

test('an entry map grows past its first slots and reuses the slots given back', () => {
  const m = new EntryMap();
  for (let page = 0; page < 1000; page++) m.add(page * 0x1000 + (page & 0xfff));
  for (let page = 0; page < 1000; page++) assert.ok(m.has(page * 0x1000 + (page & 0xfff)) && !m.has(page * 0x1000 + ((page + 1) & 0xfff)), page.toString());
  for (let page = 0; page < 500; page++) m.clearPage(page);
  assert.equal(m.pages, 500);
  // A page that gets a slot back finds none of the bits its slot held before.
  m.add(0x5000000);
  assert.ok(m.has(0x5000000) && !m.has(0x5000000 + 499) && !m.has(0x5000001));
  m.clear();
  assert.equal(m.pages, 0);
  assert.ok(!m.has(999 * 0x1000 + 999));
});

test('an entry map sized for RAM answers false for pages past it and refuses to add one there', () => {
  const m = new EntryMap(16);
  m.add(0xf123);
  assert.ok(m.has(0xf123));
  for (const phys of [0x10000, 0x10123, 0xfffff000]) assert.ok(!m.has(phys), phys.toString(16));
  assert.throws(() => m.add(0x10000), RangeError);
  m.clearPage(0x10);
  m.remove(0x10000);
  assert.equal(m.pages, 1);
});
