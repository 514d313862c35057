// Issue 14's walk through the first run, in Chromium with the real Debian guest, on a fresh data
// folder: the first-run page; Boot the sample VM; the kernel's output and the activity line from the
// first seconds; the shell; a reload comes back to the same VM (its address); Shut down guest
// presses the ACPI power button and the guest powers itself off (the test guest loads Linux's
// button driver and runs busybox acpid at boot, as a distribution does). A screenshot per step goes
// to test-artifacts/first-run-*.png, and axe-core checks each page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { createHostApi } from '../main/api.ts';
import { startWebServer } from '../main/server.ts';
import { artifacts, browserSkipReason, expectAccessible, launchChromium, rendererDir } from './browser-support.ts';
import { skipOrFailInCi } from './prerequisites.ts';

const root = new URL('..', import.meta.url).pathname;
const guest = join(root, '.cache', 'guest');
const manifestPath = join(guest, 'manifest.json');

function skipReason(): string | false {
  const missing =
    browserSkipReason() ||
    (!existsSync(manifestPath)
      ? 'no test guest (run `npm run guest`)'
      : (JSON.parse(readFileSync(manifestPath, 'utf8')) as { powerButton?: string }).powerButton !== 'poweroff'
        ? 'the test guest was built before it acted on the power button (run `npm run guest`)'
        : !existsSync(join(root, 'dist', 'vmm-worker.mjs'))
          ? 'the VMM is not built'
          : false);
  return skipOrFailInCi(missing);
}

/** A console row that reads exactly `text` (the guest's answer, not the echo of a command). */
function consoleLine(page: Page, text: string, timeout: number): Promise<unknown> {
  return page.waitForFunction((t) => [...document.querySelectorAll('.xterm-rows > div')].some((row) => (row.textContent ?? '').trim() === t), text, { timeout });
}

test('first run: the first-run page, boot the sample VM, live activity, the shell, reload, the power button', { skip: skipReason(), timeout: 25 * 60_000 }, async () => {
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { kernelRelease: string; readyMarker: string; prompt: string };
  const dataDir = mkdtempSync(join(tmpdir(), 'hostbox-first-run-'));
  const host = createHostApi({ dataDir });
  const server = await startWebServer({ rendererDir, api: host.api, methods: host.methods, subscribe: host.subscribe });
  const browser = await launchChromium();
  mkdirSync(artifacts, { recursive: true });
  const shot = (page: Page, name: string): Promise<Buffer> => page.screenshot({ path: join(artifacts, `first-run-${name}.png`) });
  try {
    // The app finds the test guest; the sample VM is then in the library, as the app's start adds it.
    assert.ok(await host.api.sampleGuest(), 'the app finds the test guest');
    const made = await host.api.createSampleVm();
    assert.ok(made.ok, JSON.stringify(made));
    await assert.rejects(host.api.createSampleVm(), /already has a VM named "Debian sample"/);

    // 1. A fresh page with no VM chosen: the first-run page.
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    await page.goto(server.url);
    await page.getByRole('heading', { name: 'Welcome to Hostbox' }).waitFor();
    await page.getByText('“Debian sample” is in your library').waitFor();
    await expectAccessible(page, 'first-run page');
    await shot(page, '1-welcome');

    // 2. Boot the sample VM: its page opens, and output comes from the first seconds.
    const poweredOnAt = Date.now();
    await page.getByRole('button', { name: 'Boot the sample VM' }).click();
    await page.locator('.vm-header h1', { hasText: 'Debian sample' }).waitFor();
    await page.locator('.vm-header .chip-running').waitFor({ timeout: 60_000 });
    await page.locator('.xterm-rows', { hasText: 'powered on at' }).waitFor({ timeout: 30_000 });
    assert.match(new URL(page.url()).hash, new RegExp(`^#vm/${made.vm.id}$`));
    // The activity line: guest MIPS, host CPU and uptime, and it moves.
    const activity = page.getByTestId('activity');
    await activity.filter({ hasText: /Guest [\d.]+ MIPS · VMM busy \d+% · Hostbox CPU \d+% · up \d+:\d\d:\d\d/ }).waitFor({ timeout: 30_000 });
    const activityS = (Date.now() - poweredOnAt) / 1000;
    const before = await activity.textContent();
    await page.waitForTimeout(2500);
    const after = await activity.textContent();
    assert.notEqual(after, before, 'the activity line moves');
    const mips = Number(/Guest ([\d.]+) MIPS/.exec(after!)![1]);
    assert.ok(mips > 0, `guest MIPS ${mips}`);
    // The console says at once that the machine is on; then the kernel's first words on the serial console (earlycon), long before its serial driver starts.
    const xterm = page.locator('.xterm-rows');
    // The console's whole history, not its visible rows: a fast boot scrolls early lines out of view.
    const consoleHas = async (text: string, timeoutMs: number): Promise<void> => {
      const until = Date.now() + timeoutMs;
      while (!(await host.api.serialLog(made.vm.id)).text.includes(text)) {
        assert.ok(Date.now() < until, `"${text}" did not reach the console in ${timeoutMs / 1000} s`);
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    await consoleHas('Linux version', 10 * 60_000);
    const firstOutputS = (Date.now() - poweredOnAt) / 1000;
    await shot(page, '2-booting');
    console.log(`activity line ${activityS.toFixed(1)} s and first kernel output ${firstOutputS.toFixed(1)} s after Power on; activity: ${after}`);

    // 3. The shell.
    await consoleHas(manifest.readyMarker, 15 * 60_000);
    await xterm.filter({ hasText: manifest.prompt.trim() }).waitFor({ timeout: 60_000 });
    console.log(`shell reached ${((Date.now() - poweredOnAt) / 1000).toFixed(0)} s after Power on`);
    await page.locator('[data-testid=serial-console]').click();
    await page.keyboard.type('uname -r');
    await page.keyboard.press('Enter');
    await consoleLine(page, manifest.kernelRelease, 120_000);
    // The library shows the running VM's screen as a thumbnail (the kernel also writes to tty0).
    await page.locator('.vm-list li', { hasText: 'Debian sample' }).locator('canvas.thumb').waitFor({ timeout: 30_000 });
    await expectAccessible(page, 'running VM page');
    await shot(page, '3-shell');

    // 4. Reload: the same VM, from the address, with its console so far.
    await page.reload();
    await page.locator('.vm-header h1', { hasText: 'Debian sample' }).waitFor();
    await page.locator('.vm-header .chip-running').waitFor();
    await xterm.filter({ hasText: manifest.readyMarker }).waitFor({ timeout: 30_000 });
    assert.match(new URL(page.url()).hash, new RegExp(`^#vm/${made.vm.id}$`));
    await activity.filter({ hasText: /MIPS/ }).waitFor({ timeout: 30_000 });
    await shot(page, '4-reloaded');

    // 5. Shut down guest: the ACPI power button, which the guest's button driver and acpid act on.
    // The driver took the fixed power button at boot: ACPI enabled its event (PWRBTN_EN: "EN ...
    // enabled"), and the guest counts its interrupts here.
    await page.locator('[data-testid=serial-console]').click();
    await page.keyboard.type('cat /sys/firmware/acpi/interrupts/ff_pwr_btn');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => [...document.querySelectorAll('.xterm-rows > div')].some((row) => /^\s*0\s+EN\b.*\benabled\b/.test(row.textContent ?? '')), null, { timeout: 60_000 });
    const pressedAt = Date.now();
    await page.getByRole('button', { name: 'Shut down guest' }).click();
    await page.getByText('The power button was pressed').waitFor();
    await shot(page, '5-power-button');
    // The guest powers itself off (S5): no Power off, no confirmation.
    await page.locator('.vm-header .chip-off').waitFor({ timeout: 3 * 60_000 });
    console.log(`the guest was off ${((Date.now() - pressedAt) / 1000).toFixed(1)} s after Shut down guest`);
    assert.equal(await page.getByRole('dialog').count(), 0, 'nothing asked for a confirmation');
    await consoleHas('reboot: Power down', 30_000);
    await xterm.filter({ hasText: 'powered off at' }).waitFor({ timeout: 30_000 });
    assert.equal((await host.api.listVms())[0]!.power, 'off');
    await shot(page, '6-powered-off');
    await page.close();
  } finally {
    await browser.close();
    await host.close();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
