// Suspend and resume in the app as a user meets them, in Chromium against web mode run as `npm start`
// runs it (dist/main/start.js, its own process), with a real VMM and the counting boot sector
// (tests/boot-sectors/mbr-counter.asm): Suspend, reload, the VM shows Suspended, Power on and the
// count goes on from where it stopped (no second boot). Then stopping the server with SIGINT while the
// VM runs suspends it, and after a restart Power on continues it again. Discard saved state asks
// first. Needs `npm run build`, nasm, SeaBIOS and Chromium.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { VmLibrary, SUSPEND_FILE } from '../main/library/library.ts';
import { defaultSettings } from '../main/library/vm-settings.ts';
import { DEFAULT_BIOS } from '../main/vmm-host.ts';
import { bootSectorImage } from './boot-sector.ts';
import { artifacts, browserSkipReason, launchChromium, powerOffConfirmed } from './browser-support.ts';
import { skipOrFailInCi } from './prerequisites.ts';

const root = new URL('..', import.meta.url).pathname;

function skipReason(): string | false {
  const browser = browserSkipReason();
  if (browser) return browser;
  if (!existsSync(join(root, 'dist', 'vmm-worker.mjs')) || !existsSync(join(root, 'dist', 'main', 'start.js'))) return skipOrFailInCi('the app is not built (npm run build)');
  if (!existsSync(DEFAULT_BIOS.bios)) return skipOrFailInCi('SeaBIOS is not installed (apt-get install seabios)');
  return false;
}

interface Server {
  child: ChildProcess;
  url: string;
  out: () => string;
  exit: Promise<number | null>;
}

/** `npm start` without the build: web mode on a random port, with the library in `dataDir`. */
async function startServer(dataDir: string): Promise<Server> {
  const child = spawn(process.execPath, [join(root, 'dist', 'main', 'start.js'), '--web'], { env: { ...process.env, HOSTBOX_DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const end = Date.now() + 30_000;
  while (!/Open: (\S+)/.test(out)) {
    if (Date.now() > end || child.exitCode !== null) throw new Error(`web mode did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { child, url: /Open: (\S+)/.exec(out)![1]!, out: () => out, exit };
}

/** The counts on the serial console, in order. */
async function counts(page: Page): Promise<number[]> {
  const text = await page.evaluate(() => [...document.querySelectorAll('.xterm-rows > div')].map((r) => r.textContent ?? '').join('\n'));
  return [...text.matchAll(/count=(\d+)/g)].map((m) => Number(m[1]));
}

async function waitForCount(page: Page, atLeast: number): Promise<number[]> {
  const end = Date.now() + 120_000;
  for (;;) {
    const c = await counts(page);
    if ((c.at(-1) ?? -1) >= atLeast) return c;
    if (Date.now() > end) throw new Error(`the count did not reach ${atLeast}: ${c.join(' ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const bootLines = async (page: Page): Promise<number> => page.locator('.xterm-rows > div', { hasText: 'boot at' }).count();

test('web mode: Suspend, reload, Suspended, Power on goes on counting; SIGINT suspends; Discard saved state asks', { skip: skipReason(), timeout: 300_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hostbox-web-suspend-'));
  const files = mkdtempSync(join(tmpdir(), 'hostbox-web-suspend-files-'));
  const disk = join(files, 'counter.img');
  writeFileSync(disk, bootSectorImage('mbr-counter.asm', 1 << 20));
  const lib = VmLibrary.open(dataDir);
  const made = lib.create({ ...defaultSettings(), name: 'Counter', memoryMiB: 16, boot: 'disk', hdaPath: disk, net: 'none' }, { ptyUnavailable: () => null });
  assert.ok(made.ok, JSON.stringify(made));
  const id = made.vm.id;
  lib.close();
  mkdirSync(artifacts, { recursive: true });
  let server = await startServer(dataDir);
  const browser = await launchChromium();
  try {
    let page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
    await page.goto(server.url);
    await page.locator('.vm-item', { hasText: 'Counter' }).click();
    await page.locator('.vm-header h1', { hasText: 'Counter' }).waitFor();
    await page.getByRole('button', { name: 'Power on' }).click();
    await page.locator('.vm-header .chip-running').waitFor({ timeout: 60_000 });
    await waitForCount(page, 3);
    await page.getByRole('button', { name: 'Suspend' }).click();
    await page.locator('.vm-header .chip-suspended').waitFor({ timeout: 60_000 });
    const before = (await counts(page)).at(-1)!;

    await page.reload();
    await page.locator('.vm-list li', { hasText: 'Counter' }).locator('.chip-suspended', { hasText: 'Suspended' }).waitFor();
    await page.locator('[data-testid=suspended-note]', { hasText: /Suspended .* \(saved state [\d.]+ KiB\)/ }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Settings' }).count(), 0, 'no settings while suspended');
    await page.screenshot({ path: join(artifacts, 'web-suspended.png') });

    await page.getByRole('button', { name: 'Power on' }).click();
    await page.locator('.vm-header .chip-running').waitFor({ timeout: 60_000 });
    const after = await waitForCount(page, before + 2);
    // The console holds this server session's output: the counts before the suspend, then on from the next one.
    assert.deepEqual(after.slice(after.indexOf(before), after.indexOf(before) + 3), [before, before + 1, before + 2], after.join(' '));
    assert.equal(await bootLines(page), 1, 'the guest did not boot again');

    // Stopping web mode while the VM runs suspends it.
    server.child.kill('SIGINT');
    assert.equal(await server.exit, 0, server.out());
    assert.match(server.out(), /suspending Counter/);
    assert.match(server.out(), new RegExp(`Counter: suspended to .*${SUSPEND_FILE}`));
    const lastBeforeStop = (await counts(page)).at(-1)!;
    await page.close();
    const check = VmLibrary.open(dataDir);
    assert.equal(check.get(id).power, 'suspended');
    check.close();

    server = await startServer(dataDir);
    page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
    await page.goto(server.url);
    await page.locator('.vm-item', { hasText: 'Counter' }).click();
    await page.locator('.vm-header .chip-suspended').waitFor();
    await page.getByRole('button', { name: 'Power on' }).click();
    await page.locator('.vm-header .chip-running').waitFor({ timeout: 60_000 });
    const resumed = await waitForCount(page, lastBeforeStop + 2);
    // A new server's console starts empty: the first count shown follows one the old page saw, or a later one the old page had not yet received.
    assert.ok(resumed[0]! >= lastBeforeStop + 1 && resumed[0]! <= lastBeforeStop + 3, `${lastBeforeStop} then ${resumed.join(' ')}`);
    assert.equal(await bootLines(page), 0, 'the guest did not boot again');

    // Discard saved state asks first; Cancel keeps it.
    await page.getByRole('button', { name: 'Suspend' }).click();
    await page.locator('.vm-header .chip-suspended').waitFor({ timeout: 60_000 });
    await page.getByRole('button', { name: 'Discard saved state…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('whatever its programs had not written to its disks is lost').waitFor();
    await page.screenshot({ path: join(artifacts, 'web-discard-state.png') });
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await page.locator('.vm-header .chip-suspended').waitFor();
    assert.ok(existsSync(join(made.vm.folder, SUSPEND_FILE)));
    await page.getByRole('button', { name: 'Discard saved state…' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Discard saved state' }).click();
    await page.locator('.vm-header .chip-off').waitFor();
    assert.equal(existsSync(join(made.vm.folder, SUSPEND_FILE)), false);

    // Snapshots panel: take one of the running VM, revert to it (suspended at that moment), Power on
    // continues from its count; powered off, deleting it merges the disk changes back.
    await page.getByRole('button', { name: 'Power on' }).click();
    await page.locator('.vm-header .chip-running').waitFor({ timeout: 60_000 });
    const bootCount = (await counts(page)).at(-1) ?? 0;
    await waitForCount(page, bootCount + 2);
    const panel = page.getByTestId('snapshots');
    await panel.locator('input[name=snapshotName]').fill('Counting');
    await panel.getByRole('button', { name: 'Take snapshot' }).click();
    await panel.locator('li[data-snapshot=Counting]', { hasText: 'running machine and disk' }).waitFor({ timeout: 60_000 });
    await panel.locator('li[data-snapshot=Counting] .chip-here').waitFor();
    await page.locator('.vm-header .chip-running').waitFor({ timeout: 60_000 });
    const atSnapshot = (await counts(page)).at(-1)!;
    await waitForCount(page, atSnapshot + 3);
    await page.screenshot({ path: join(artifacts, 'web-snapshots.png') });
    await panel.getByRole('button', { name: 'Revert to Counting' }).click();
    await page.getByRole('dialog').getByText('suspended at that moment').waitFor();
    await page.getByRole('dialog').getByRole('button', { name: 'Revert' }).click();
    await page.locator('.vm-header .chip-suspended').waitFor({ timeout: 60_000 });
    const beforeRevertResume = (await counts(page)).length;
    await page.getByRole('button', { name: 'Power on' }).click();
    await page.locator('.vm-header .chip-running').waitFor({ timeout: 60_000 });
    // The reverted guest's counts follow the ones printed before the revert (atSnapshot + 3 and
    // beyond) and are lower: the first count after that drop is the first after the revert. (The
    // line after those on the screen when the chip said suspended was not always it: on a loaded
    // machine the console's last lines before the revert reached the page after the chip did.)
    const end = Date.now() + 60_000;
    let firstAfterRevert: number | undefined;
    while (firstAfterRevert === undefined && Date.now() < end) {
      const c = await counts(page);
      const k = c.findIndex((v, i) => i >= beforeRevertResume && i > 0 && c[i - 1]! >= atSnapshot + 3 && v < c[i - 1]!);
      if (k > 0) firstAfterRevert = c[k];
      else await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(firstAfterRevert !== undefined, `no count after the revert: ${(await counts(page)).join(' ')}`);
    // The snapshot was saved after count bootCount+2 was printed and before atSnapshot was read; the guest goes on from there, not from a boot.
    assert.ok(firstAfterRevert >= bootCount + 3 && firstAfterRevert <= atSnapshot + 1, `the first count after the revert is ${firstAfterRevert}; the snapshot fell between ${bootCount + 2} and ${atSnapshot}`);
    assert.equal(await bootLines(page), 1, 'the revert did not boot the guest again');
    await powerOffConfirmed(page);
    await page.locator('.vm-header .chip-off').waitFor();
    await panel.getByRole('button', { name: 'Delete snapshot Counting' }).click();
    await page.getByRole('dialog').getByText('merged into its disk').waitFor();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete snapshot' }).click();
    await panel.getByText('No snapshots.').waitFor();
  } finally {
    await browser.close();
    if (server.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await server.exit;
    }
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(files, { recursive: true, force: true });
  }
});
