// Checks what scripts/build-guest.sh produced (only when .cache/guest exists): the manifest agrees
// with the files, and the initramfs holds what the boot tests rely on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { parseBzImage } from '../vmm/boot/linux.ts';

/** The two guests `npm run guest` builds: the 686 kernel and the 686-pae one (issue 16). */
const GUESTS = [
  ['686', fileURLToPath(new URL('../.cache/guest/', import.meta.url))],
  ['686-pae', fileURLToPath(new URL('../.cache/guest-686-pae/', import.meta.url))],
] as const;

interface Manifest {
  kernelRelease: string;
  vmlinuz: { size: number; sha256: string };
  initrd: { size: number; sha256: string };
  readyMarker: string;
  prompt: string;
  testFile: { path: string; size: number; md5: string };
  modules: string[];
  moduleOption: string;
  powerButton?: string;
}

interface CpioEntry {
  mode: number;
  rdevMajor: number;
  rdevMinor: number;
  data: Uint8Array;
}

/** Reads every newc archive in `buf` (the kernel accepts several back to back). */
function readNewc(buf: Uint8Array): Map<string, CpioEntry> {
  const out = new Map<string, CpioEntry>();
  const text = (o: number, n: number): string => String.fromCharCode(...buf.subarray(o, o + n));
  const field = (o: number, i: number): number => parseInt(text(o + 6 + i * 8, 8), 16);
  let o = 0;
  while (o + 110 <= buf.length) {
    if (buf[o] === 0) {
      o++;
      continue;
    }
    assert.equal(text(o, 6), '070701', `newc magic at ${o}`);
    const mode = field(o, 1);
    const fileSize = field(o, 6);
    const rdevMajor = field(o, 9);
    const rdevMinor = field(o, 10);
    const nameSize = field(o, 11);
    const name = text(o + 110, nameSize - 1);
    const dataStart = (o + 110 + nameSize + 3) & ~3;
    const data = buf.subarray(dataStart, dataStart + fileSize);
    o = (dataStart + fileSize + 3) & ~3;
    if (name !== 'TRAILER!!!') out.set(name.replace(/^\.\//, ''), { mode, rdevMajor, rdevMinor, data });
  }
  return out;
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

for (const [flavour, dir] of GUESTS) {
  const have = existsSync(dir + 'manifest.json') && existsSync(dir + 'vmlinuz') && existsSync(dir + 'initrd.img');
  const skip = have ? false : `no ${dir}: run \`npm run guest\` to build the test guests`;

  test(`the ${flavour} guest manifest matches the built files`, { skip }, () => {
    const m = JSON.parse(readFileSync(dir + 'manifest.json', 'utf8')) as Manifest;
    for (const [file, info] of [
      ['vmlinuz', m.vmlinuz],
      ['initrd.img', m.initrd],
    ] as const) {
      const bytes = readFileSync(dir + file);
      assert.equal(bytes.length, info.size, `${file} size`);
      assert.equal(createHash('sha256').update(bytes).digest('hex'), info.sha256, `${file} sha256`);
    }
    const h = parseBzImage(new Uint8Array(readFileSync(dir + 'vmlinuz')));
    assert.ok(h.version.startsWith(m.kernelRelease + ' '), `kernel says ${h.version}`);
    assert.match(m.kernelRelease, new RegExp(`^\\d+\\.\\d+\\.\\d+-\\d+-${flavour}$`));
  });

  test(`the ${flavour} initramfs has init, busybox, the test file and the modules with their dependencies`, { skip }, () => {
    const m = JSON.parse(readFileSync(dir + 'manifest.json', 'utf8')) as Manifest;
    const files = readNewc(new Uint8Array(gunzipSync(readFileSync(dir + 'initrd.img'))));

    const init = files.get('init');
    assert.ok(init, '/init exists');
    assert.equal(init.mode & S_IFMT, S_IFREG);
    assert.ok(init.mode & 0o100, '/init is executable');
    const script = new TextDecoder().decode(init.data);
    assert.ok(script.startsWith('#!/bin/sh\n'));
    assert.ok(script.includes(`echo "${m.readyMarker} `), 'prints the ready marker');
    assert.ok(script.includes(`PS1='${m.prompt}'`), 'sets the prompt');
    assert.ok(script.includes('setsid cttyhack sh'), 'shell with a controlling tty');
    assert.ok(script.includes('mount -t devtmpfs'));
    assert.ok(script.includes(m.moduleOption + '='));

    // The power button: /init loads the driver and starts acpid before the marker; acpid needs its
    // log folder, and runs the action for PWRF, which powers off.
    assert.equal(m.powerButton, 'poweroff');
    assert.ok(script.indexOf('modprobe evdev && modprobe button && acpid') >= 0, '/init starts acpid');
    assert.ok(script.indexOf('acpid') < script.indexOf(`echo "${m.readyMarker} `), 'acpid starts before the marker');
    assert.ok(files.has('var/log'), '/var/log for acpid.log');
    const action = files.get('etc/acpi/PWRF/00000080');
    assert.ok(action, "acpid's power button action");
    assert.equal(action.mode & S_IFMT, S_IFREG);
    assert.ok(action.mode & 0o100, 'the action is executable');
    assert.match(new TextDecoder().decode(action.data), /^#!\/bin\/sh\n[^]*^poweroff -f$/m);

    const busybox = files.get('bin/busybox');
    assert.ok(busybox, 'busybox');
    assert.deepEqual([...busybox.data.subarray(0, 5)], [0x7f, 0x45, 0x4c, 0x46, 1], 'a 32-bit ELF');
    assert.equal(busybox.data[18], 3, 'e_machine EM_386');
    // The applet links are made at build time where the host runs the i386 busybox, else by /init at
    // boot (a host without IA-32 emulation); either way /bin/sh is there to run /init.
    const linkedAtBuild = files.has('bin/mount');
    if (!linkedAtBuild) assert.match(script, /^\[ -e \/bin\/mount \] \|\| \/bin\/busybox --install -s$/m, '/init links the applets');
    for (const applet of linkedAtBuild ? ['bin/sh', 'bin/mount', 'sbin/poweroff', 'sbin/modprobe', 'usr/bin/setsid', 'bin/cttyhack', 'usr/bin/md5sum'] : ['bin/sh']) {
      const e = files.get(applet);
      assert.ok(e, applet);
      assert.equal(e.mode & S_IFMT, S_IFLNK, `${applet} is a link`);
      assert.match(new TextDecoder().decode(e.data), /(^|\/)busybox$/);
    }

    const console = files.get('dev/console');
    assert.ok(console, '/dev/console');
    assert.equal(console.mode & S_IFMT, S_IFCHR);
    assert.deepEqual([console.rdevMajor, console.rdevMinor], [5, 1]);

    assert.match(new TextDecoder().decode(files.get('etc/passwd')!.data), /^root:x:0:0:/);
    assert.match(new TextDecoder().decode(files.get('etc/group')!.data), /^root:x:0:/);

    const t = files.get(m.testFile.path.slice(1));
    assert.ok(t, m.testFile.path);
    assert.equal(t.data.length, m.testFile.size);
    assert.equal(createHash('md5').update(t.data).digest('hex'), m.testFile.md5);

    const modDir = `lib/modules/${m.kernelRelease}/`;
    const dep = new TextDecoder().decode(files.get(modDir + 'modules.dep')!.data);
    const depLines = new Map<string, string[]>();
    for (const line of dep.split('\n')) {
      if (!line) continue;
      const [mod, rest] = line.split(':') as [string, string];
      depLines.set(mod, rest.trim() ? rest.trim().split(/\s+/) : []);
    }
    const byName = new Map<string, string>();
    for (const path of depLines.keys()) byName.set(path.split('/').pop()!.replace(/\.ko$/, '').replace(/-/g, '_'), path);
    for (const want of ['ata_piix', 'sd_mod', 'sr_mod', 'cdrom', 'vfat', 'fat', 'nls_cp437', 'nls_ascii', 'nls_iso8859_1', 'ne2k_pci', '8390', 'pcnet32', 'button', 'evdev']) {
      assert.ok(m.modules.includes(want), `manifest lists ${want}`);
      assert.ok(byName.has(want), `modules.dep lists ${want}`);
    }
    for (const [mod, deps] of depLines) {
      for (const p of [mod, ...deps]) {
        assert.ok(p.endsWith('.ko'), `${p} is uncompressed`);
        const f = files.get(modDir + p);
        assert.ok(f, `${p} is in the initramfs`);
        assert.deepEqual([...f.data.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], `${p} is an ELF object`);
      }
    }
  });
}
