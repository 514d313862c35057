import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRunArgs } from './cli.ts';

const scratch = mkdtempSync(join(tmpdir(), 'hostbox-cli-config-'));
test.after(() => rmSync(scratch, { recursive: true, force: true }));

function withConfig(settings: unknown, extra: string[] = []) {
  const file = join(scratch, 'vm.json');
  writeFileSync(file, JSON.stringify(settings));
  return () => parseRunArgs(['--config', file, ...extra], scratch);
}

test('a --config setting of the wrong type is refused by name, never passed on or half-used', () => {
  const cases: [object, RegExp][] = [
    [{ kernel: 5 }, /config file .*vm\.json: "kernel" must be a string/],
    [{ initrd: true, kernel: '/k' }, /"initrd" must be a string/],
    [{ append: ['console=ttyS0'], kernel: '/k' }, /"append" must be a string/],
    [{ mac: 5 }, /"mac" must be a string/],
    [{ bios: null }, /"bios" must be a string/],
    [{ memory: '256', kernel: '/k' }, /"memory" must be a whole number of MiB/],
    [{ memory: 64.5, kernel: '/k' }, /"memory" must be a whole number of MiB/],
    [{ hostAccess: 'yes', kernel: '/k' }, /"hostAccess" must be true or false/],
    // A single string is not silently dropped (it used to be: no forward, no message).
    [{ forwards: 'tcp:8080:80', kernel: '/k' }, /"forwards" must be a list of strings/],
    [{ forwards: [8080], kernel: '/k' }, /"forwards" must be a list of strings/],
    [{ folder: '/tmp' }, /"folder" must be a list of "DIR" or "DIR,readonly" strings/],
  ];
  for (const [settings, re] of cases) assert.throws(withConfig(settings), re, JSON.stringify(settings));
  // What the README promises still works, and flags still win.
  const ok = withConfig({ memory: 64, kernel: 'k', append: 'console=ttyS0', hostAccess: true, forwards: ['tcp:8080:80'] }, ['--memory', '32'])();
  assert.equal(ok.memoryMiB, 32);
  assert.equal(ok.kernelPath, join(scratch, 'k'));
  assert.equal(ok.cmdline, 'console=ttyS0');
  assert.equal(ok.net?.hostAccess, true);
  assert.equal(ok.net?.forwards.length, 1);
  assert.equal(withConfig({ memory: 48 })().memoryMiB, 48);
});

test('--boot takes only its own device names, not names every JavaScript object has', () => {
  for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
    assert.throws(() => parseRunArgs(['--boot', name]), new RegExp(`--boot ${name} is not a boot device`), name);
    assert.throws(withConfig({ boot: name }), /is not a boot device/, name);
  }
  assert.equal(parseRunArgs(['--boot', 'd']).bootFrom, 'cdrom');
  assert.equal(parseRunArgs(['--boot', 'disk']).bootFrom, 'disk');
});

test('an empty --config is a missing file, not no config', () => {
  assert.throws(() => parseRunArgs(['--config=', '--kernel', '/k']), /config file .*does not exist/);
});
