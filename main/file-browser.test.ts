import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { listDir, RecentFiles } from './file-browser.ts';
import { paramsProblem } from './api-params.ts';

test('a folder is listed with kinds and sizes, folders first; links show as their target', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hostbox-browse-'));
  try {
    mkdirSync(join(dir, 'zfolder'));
    writeFileSync(join(dir, 'a.img'), Buffer.alloc(1024));
    symlinkSync(join(dir, 'a.img'), join(dir, 'link.img'));
    symlinkSync(join(dir, 'nowhere'), join(dir, 'dangling'));
    const l = await listDir(dir + '/zfolder/..');
    assert.equal(l.path, dir);
    assert.equal(l.parent, join(dir, '..'));
    assert.deepEqual(l.entries, [
      { name: 'zfolder', kind: 'dir', bytes: null },
      { name: 'a.img', kind: 'file', bytes: 1024 },
      { name: 'dangling', kind: 'other', bytes: null, link: true },
      { name: 'link.img', kind: 'file', bytes: 1024, link: true },
    ]);
    assert.equal(l.truncated, false);
    assert.equal((await listDir('/')).parent, null);
    assert.equal((await listDir('')).path, homedir());
    await assert.rejects(listDir('relative/path'), /not an absolute path/);
    await assert.rejects(listDir(join(dir, 'missing')), /does not exist/);
    await assert.rejects(listDir(join(dir, 'a.img')), /is not a folder/);
    await assert.rejects(listDir('/tmp/\0x'), /NUL/);
    assert.match(paramsProblem('browseDir', [42]) ?? '', /a path/);
    assert.equal(paramsProblem('browseDir', ['/tmp']), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('recent files: newest first, no duplicates, only existing files, a damaged list reads as empty', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hostbox-recent-'));
  try {
    const a = join(dir, 'a.iso');
    const b = join(dir, 'b.iso');
    writeFileSync(a, '');
    writeFileSync(b, '');
    const r = new RecentFiles(dir);
    assert.deepEqual(r.list(), []);
    r.add([a, '', 'relative']);
    r.add([b, a, join(dir, 'gone.iso')]);
    assert.deepEqual(r.list(), [b, a]);
    assert.deepEqual(new RecentFiles(dir).list(), [b, a], 'kept in the data folder');
    writeFileSync(join(dir, 'recent-files.json'), '{not json');
    assert.deepEqual(new RecentFiles(dir).list(), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
