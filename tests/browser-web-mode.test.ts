// Web mode in a real browser (Debian's Chromium through playwright-core): the renderer built by Vite,
// served with its token, talking to the host API over the WebSocket, with a library in a fresh data
// folder. The VMM is a stand-in that echoes serial input, so every form and button can be exercised
// in seconds; tests/browser-guest.test.ts does the same walk with the real Debian guest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHostApi } from '../main/api.ts';
import { startWebServer } from '../main/server.ts';
import { FAKE_RELEASE, fakeVmmLauncher } from '../main/fake-vmm-launcher.ts';
import { fakeBzImage } from '../vmm/boot/fake-bzimage.ts';
import { ptyUnavailable } from '../main/backends/pty.ts';
import { browserSkipReason, expectAccessible, launchChromium, newKernelVmForm, powerOffConfirmed, rendererDir, artifacts } from './browser-support.ts';

test('web mode: library, New VM form with validation, console, power, settings, delete, restart', { skip: browserSkipReason(), timeout: 120_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hostbox-web-'));
  const files = mkdtempSync(join(tmpdir(), 'hostbox-web-files-'));
  const kernel = join(files, 'vmlinuz');
  writeFileSync(kernel, fakeBzImage());
  let host = createHostApi({ dataDir, launcher: fakeVmmLauncher() });
  let server = await startWebServer({ rendererDir, api: host.api, methods: host.methods, subscribe: host.subscribe });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
    await page.goto(server.url);
    await page.getByText('Welcome to Hostbox').waitFor();
    await page.getByText('No VMs yet').waitFor();
    await expectAccessible(page, 'first-run page');
    await page.emulateMedia({ colorScheme: 'dark' });
    await expectAccessible(page, 'first-run page, dark');
    await page.screenshot({ path: join(artifacts, 'web-first-run-dark.png') });
    await page.emulateMedia({ colorScheme: 'light' });
    await newKernelVmForm(page);
    await expectAccessible(page, 'New VM form');
    mkdirSync(artifacts, { recursive: true });

    // Every problem shows next to its field, and nothing is saved.
    await page.fill('input[name=memory]', '0');
    await page.fill('input[name=kernelPath]', join(files, 'missing-vmlinuz'));
    await page.fill('input[name=initrdPath]', 'initrd.img');
    await page.click('button[type=submit]');
    await page.getByText('Give the VM a name.').waitFor();
    await page.getByText('Memory must be a whole number of MiB from 4 to 3072.').waitFor();
    await page.getByText(`${join(files, 'missing-vmlinuz')} does not exist.`).waitFor();
    await page.getByText('Give the full path of the initial ramdisk (initrd.img is relative).').waitFor();
    await page.screenshot({ path: join(artifacts, 'web-new-vm-errors.png') });
    // A bad size for a new disk is caught too.
    await page.selectOption('select[name=disk]', 'new');
    await page.fill('input[name=newDiskMiB]', '0');
    await page.click('button[type=submit]');
    await page.getByText('A new disk must be a whole number of MiB from 1 to 2097152.').waitFor();
    assert.equal((await host.api.listVms()).length, 0);

    // A valid form creates the VM (with a sparse 32 MiB disk in its folder) and opens it, off.
    await page.fill('input[name=name]', 'Test guest');
    await page.fill('input[name=memory]', '128');
    // The kernel through the browse dialog: another folder typed in, the file chosen by keyboard.
    await page.getByRole('button', { name: 'Browse for kernel' }).click();
    const browse = page.getByRole('dialog');
    await browse.getByRole('listbox').waitFor();
    await page.locator('input[name=browse-path]').fill(files);
    await page.locator('input[name=browse-path]').press('Enter');
    await browse.getByRole('option', { name: /vmlinuz/ }).waitFor();
    await expectAccessible(page, 'browse dialog');
    await page.screenshot({ path: join(artifacts, 'web-browse-dialog.png') });
    await browse.getByRole('listbox').focus();
    await page.keyboard.press('Enter');
    assert.equal(await page.getByRole('dialog').count(), 0);
    assert.equal(await page.locator('input[name=kernelPath]').inputValue(), kernel);
    await page.fill('input[name=initrdPath]', '');
    await page.fill('input[name=newDiskMiB]', '32');
    await page.click('button[type=submit]');
    await page.locator('.vm-header h1', { hasText: 'Test guest' }).waitFor();
    await page.locator('.vm-header .chip-off').waitFor();
    const [vm] = await host.api.listVms();
    assert.equal(vm!.memoryMiB, 128);
    assert.equal(statSync(vm!.hdaPath).size, 32 * 1024 * 1024);

    // Power on, the console, power off.
    await page.getByRole('button', { name: 'Power on' }).click();
    await page.locator('.vm-header .chip-running').waitFor();
    await page.locator('.xterm-rows', { hasText: '/ #' }).waitFor();
    await page.locator('[data-testid=serial-console]').click();
    await page.keyboard.type('uname -r');
    await page.keyboard.press('Enter');
    await page.locator('.xterm-rows', { hasText: FAKE_RELEASE }).waitFor();
    // Zoom: the text grows and the terminal keeps the box, with fewer columns.
    const size = page.locator('.term-size');
    const cols = (): Promise<number> => size.textContent().then((t) => Number(/^(\d+)×/.exec(t ?? '')?.[1]));
    const colsBefore = await cols();
    await page.getByRole('button', { name: 'Zoom in' }).click();
    await page.getByText('14 px').waitFor();
    await page.waitForFunction((n) => Number(/^(\d+)×/.exec(document.querySelector('.term-size')?.textContent ?? '')?.[1]) < n, colsBefore);
    // Resizing the box refits the terminal.
    await page.locator('.terminal-box').evaluate((el) => ((el as HTMLElement).style.width = '500px'));
    await page.waitForFunction((n) => Number(/^(\d+)×/.exec(document.querySelector('.term-size')?.textContent ?? '')?.[1]) < n / 1.5, colsBefore);
    assert.ok((await cols()) >= 20);
    // Paste carries the host's clipboard to the guest.
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(server.url).origin });
    await page.evaluate(() => navigator.clipboard.writeText('pasted-text'));
    await page.getByRole('button', { name: 'Paste' }).click();
    await page.locator('.xterm-rows', { hasText: 'pasted-text' }).waitFor();
    await page.locator('[data-testid=serial-console]').click();
    await page.keyboard.press('Enter');
    await page.locator('.xterm-rows', { hasText: /pasted-text\s*\/ #/ }).waitFor();
    // Copy with nothing selected says what to do; with a line selected it takes it.
    await page.getByRole('button', { name: 'Copy' }).click();
    await page.getByText('Select text in the console first.').waitFor();
    // A triple click selects a line, as in a desktop terminal: the second, the mark of the power-on.
    const screenBox = (await page.locator('.xterm-screen').boundingBox())!;
    await page.mouse.click(screenBox.x + 20, screenBox.y + 25, { clickCount: 3 });
    await page.getByRole('button', { name: 'Copy' }).click();
    await page.getByText(/Copied \d+ characters/).waitFor();
    assert.match(await page.evaluate(() => navigator.clipboard.readText()), /powered on at/);
    await page.screenshot({ path: join(artifacts, 'web-console-fake.png') });
    await expectAccessible(page, 'VM page, running');
    // Settings can be seen while running, not changed.
    await page.getByRole('button', { name: 'Settings' }).click();
    await page.getByText('The VM is running: power it off to change these.').waitFor();
    assert.equal(await page.locator('input[name=memory]').isDisabled(), true);
    assert.equal(await page.locator('button[type=submit]').count(), 0);
    await expectAccessible(page, 'settings while running');
    await page.getByRole('button', { name: 'Close' }).click();
    // Power off asks first; Cancel (or Escape) leaves the VM running.
    await page.locator('.vm-header').getByRole('button', { name: 'Power off' }).click();
    await page.getByRole('dialog').getByText('This cuts the power at once').waitFor();
    await expectAccessible(page, 'power-off confirmation');
    // Focus stays in the dialog: Tab from its last button comes back to its first.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.closest('[role=dialog]') !== null), true);
    await page.keyboard.press('Escape');
    assert.equal(await page.getByRole('dialog').count(), 0);
    assert.equal((await host.api.listVms())[0]!.power, 'running');
    await powerOffConfirmed(page);
    await page.locator('.vm-header .chip-off').waitFor();
    await page.locator('.xterm-rows', { hasText: 'powered off at' }).waitFor();
    assert.equal((await host.api.listVms())[0]!.power, 'off');

    // Settings while off: a bad value is refused in place, a good one is stored.
    await page.getByRole('button', { name: 'Settings' }).click();
    await page.getByText('Settings of Test guest').waitFor();
    await page.fill('input[name=memory]', '99999');
    await page.click('button[type=submit]');
    await page.getByText('Memory must be a whole number of MiB from 4 to 3072.').waitFor();
    await page.fill('input[name=memory]', '192');
    await page.click('button[type=submit]');
    await page.locator('.summary', { hasText: '192 MiB' }).waitFor();
    assert.equal((await host.api.listVms())[0]!.memoryMiB, 192);

    // Port forwards are a table: rows added and removed, each checked by the host when saved.
    await page.getByRole('button', { name: 'Settings' }).click();
    await page.click('button[name=add-forward]');
    await page.fill('input[name=forward-0-host-port]', '8080');
    await page.fill('input[name=forward-0-guest-port]', '80');
    await page.click('button[name=add-forward]');
    await page.selectOption('select[name=forward-1-proto]', 'udp');
    await page.fill('input[name=forward-1-address]', '::1');
    await page.fill('input[name=forward-1-host-port]', '70000');
    await page.fill('input[name=forward-1-guest-port]', '53');
    await page.click('button[type=submit]');
    await page.getByText('Port forward "udp:[::1]:70000:53": host port "70000" is not a port number 1-65535.').waitFor();
    await page.screenshot({ path: join(artifacts, 'web-forwards-table.png') });
    await page.fill('input[name=forward-1-host-port]', '5353');
    await page.click('button[type=submit]');
    await page.locator('.summary', { hasText: '192 MiB' }).waitFor();
    assert.deepEqual((await host.api.listVms())[0]!.forwards.split('\n'), ['tcp:127.0.0.1:8080:80', 'udp:[::1]:5353:53']);
    await page.getByRole('button', { name: 'Settings' }).click();
    assert.equal(await page.inputValue('input[name=forward-1-address]'), '::1', 'stored forwards come back as rows');
    await page.locator('table.forwards tbody tr').first().getByRole('button', { name: 'Remove' }).click();
    await page.click('button[type=submit]');
    await page.locator('.summary', { hasText: '192 MiB' }).waitFor();
    assert.equal((await host.api.listVms())[0]!.forwards, 'udp:[::1]:5353:53');

    // Restart the server on the same data folder: the VM is still in the library.
    await page.close();
    await host.close();
    await server.close();
    host = createHostApi({ dataDir, launcher: fakeVmmLauncher() });
    server = await startWebServer({ rendererDir, api: host.api, methods: host.methods, subscribe: host.subscribe });
    const again = await browser.newPage({ viewport: { width: 1280, height: 820 } });
    await again.goto(server.url);
    // No VM chosen in the address: the first-run page, with the library beside it.
    await again.getByText('Welcome to Hostbox').waitFor();
    // The library by keyboard: arrow keys move between VMs, Enter opens one.
    const second = await host.api.createVm({ ...(await host.api.defaultSettings()), name: 'Second guest', kernelPath: kernel });
    assert.ok(second.ok);
    await again.locator('.vm-list li', { hasText: 'Second guest' }).waitFor();
    await again.locator('.vm-list button.vm-item').first().focus();
    await again.keyboard.press('ArrowDown');
    await again.keyboard.press('Enter');
    await again.locator('.vm-header h1', { hasText: 'Second guest' }).waitFor();
    assert.equal(new URL(again.url()).hash, `#vm/${second.vm.id}`);
    await again.keyboard.press('ArrowUp');
    await again.keyboard.press('Enter');
    await again.locator('.vm-header h1', { hasText: 'Test guest' }).waitFor();
    await host.api.deleteVm(second.vm.id);

    // Delete says what goes (the folder and its disk) and what stays (the kernel), then does it.
    await again.getByRole('button', { name: 'Delete…' }).click();
    const dialog = again.getByRole('dialog');
    await dialog.getByText(vm!.folder).waitFor();
    await dialog.getByText('disk.img').waitFor();
    await dialog.getByText(kernel).waitFor();
    await again.screenshot({ path: join(artifacts, 'web-delete-confirm.png') });
    await expectAccessible(again, 'delete confirmation');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.equal((await host.api.listVms()).length, 1);
    await again.getByRole('button', { name: 'Delete…' }).click();
    await again.getByRole('dialog').getByRole('button', { name: 'Delete VM' }).click();
    await again.getByText('Welcome to Hostbox').waitFor();
    assert.deepEqual(await host.api.listVms(), []);
    assert.equal(existsSync(vm!.folder), false);
    assert.ok(existsSync(kernel));

    // COM1 on a host pty: the page names the pty while the VM runs.
    if (!ptyUnavailable()) {
      await newKernelVmForm(again);
      await again.fill('input[name=name]', 'Pty guest');
      await again.fill('input[name=kernelPath]', kernel);
      await again.selectOption('select[name=serial]', 'pty');
      await again.click('button[type=submit]');
      await again.getByRole('button', { name: 'Power on' }).click();
      const banner = again.locator('.banner-info', { hasText: /host pseudo-terminal \/dev\/pts\/\d+/ });
      await banner.waitFor();
      assert.match((await banner.textContent())!, new RegExp(`screen ${(await host.api.listVms())[0]!.ptyPath}`));
      await again.screenshot({ path: join(artifacts, 'web-pty.png') });
      await powerOffConfirmed(again);
      await again.locator('.vm-header .chip-off').waitFor();
      assert.equal(await again.locator('.banner-info').count(), 0);
    }
  } finally {
    await browser.close();
    await host.close();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(files, { recursive: true, force: true });
  }
});
