import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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
