import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

test('a hard disk path that has become a FIFO is refused with one line, not opened and waited on for ever', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hostbox-vmmhost-'));
  try {
    const fifo = join(dir, 'disk.img');
    execFileSync('mkfifo', [fifo]);
    // In a child: a blocking open of a FIFO without a writer never returns, so the failure shows as the child's timeout.
    const script = `import { prepareConfig } from ${JSON.stringify(new URL('./vmm-host.ts', import.meta.url).href)};
      prepareConfig({ memoryMiB: 16, engine: 'interpreter', hdaPath: process.argv[1] }).then(() => console.log('opened'), (e) => console.log(e.message));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, fifo], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.error, undefined, `the child did not finish (${String(r.error)})`);
    assert.equal(r.stdout.trim(), `hda: ${fifo} is not a regular file`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a boot file that cannot be one is refused by its size before it is read: an initrd larger than RAM, an oversized BIOS, a kernel past what can be read', async () => {
  const { prepareConfig } = await import('./vmm-host.ts');
  const dir = mkdtempSync(join(tmpdir(), 'hostbox-vmmhost-'));
  try {
    // Sparse files: their size is what is judged, so none of them costs the disk (or, fixed, the host's memory) anything.
    const sized = (name: string, bytes: number): string => {
      const p = join(dir, name);
      writeFileSync(p, '');
      truncateSync(p, bytes);
      return p;
    };
    const kernel = sized('vmlinuz', 64 * 1024);
    const initrd = sized('initrd.img', 64 * 1024 * 1024);
    await assert.rejects(prepareConfig({ memoryMiB: 16, engine: 'interpreter', kernelPath: kernel, initrdPath: initrd }), {
      message: `initrd ${initrd} is 64.0 MiB, more than the VM's 16 MiB of RAM`,
    });
    const hugeKernel = sized('huge-kernel', 3 * 1024 * 1024 * 1024);
    await assert.rejects(prepareConfig({ memoryMiB: 16, engine: 'interpreter', kernelPath: hugeKernel }), {
      message: `kernel ${hugeKernel} is 3.0 GiB; a boot file can be at most 2 GiB`,
    });
    for (const bytes of [0, 4 * 1024 * 1024, 3 * 1024 * 1024 * 1024]) {
      const bios = sized(`bios-${bytes}.bin`, bytes);
      await assert.rejects(prepareConfig({ memoryMiB: 16, engine: 'interpreter', biosPath: bios }), {
        message: `BIOS ${bios}: a BIOS image must be 64 KiB to 2 MiB in whole 64 KiB blocks, not ${bytes} bytes`,
      });
    }
    // What fits is still read and handed over.
    const ok = await prepareConfig({ memoryMiB: 16, engine: 'interpreter', kernelPath: kernel, initrdPath: sized('small.img', 1024 * 1024) });
    assert.equal(ok.config.kernel?.length, 64 * 1024);
    assert.equal(ok.config.initrd?.length, 1024 * 1024);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
