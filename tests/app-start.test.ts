// `npm start` without Electron: web mode on 127.0.0.1, with the library in $HOSTBOX_DATA_DIR. A
// damaged library stops it with one line naming the file, and the file is left as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const start = join(root, 'dist', 'main', 'start.js');
const skip = existsSync(start) ? false : 'not built (npm run build)';

test('web mode starts with its library in HOSTBOX_DATA_DIR and serves the page with its token', { skip, timeout: 60_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hostbox-start-'));
  const child = spawn(process.execPath, [start, '--web', '--port', '0'], { env: { ...process.env, HOSTBOX_DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no URL printed; output: ${out}`)), 30_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /Open: (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(m[1]!);
        }
      });
      child.on('exit', (code) => reject(new Error(`exited with ${code}: ${out}`)));
    });
    assert.match(out, new RegExp(`VM library: ${dataDir}`));
    assert.ok(existsSync(join(dataDir, 'library.sqlite3')));
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<div id="root">/);
    assert.equal((await fetch(url.replace(/token=.*/, 'token=wrong'))).status, 403);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a damaged library stops the app with a message naming the file, which is left as it was', { skip }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hostbox-start-bad-'));
  try {
    const file = join(dataDir, 'library.sqlite3');
    writeFileSync(file, 'not a database at all, but somebody\'s data'.repeat(100));
    const before = readFileSync(file);
    const r = spawnSync(process.execPath, [start, '--web', '--port', '0'], { env: { ...process.env, HOSTBOX_DATA_DIR: dataDir }, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`hostbox: the VM library ${file} is damaged or not a SQLite database`));
    assert.deepEqual(readFileSync(file), before);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
