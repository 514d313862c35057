// Issue 5's acceptance test: the app in web mode, driven in Chromium as a user would, with a fresh
// library and the real Debian test guest. Create the VM through the form, power it on, wait for the
// shell in the serial console, type `uname -r` and see the kernel's release, power off, restart the
// server and find the VM still in the library. Screenshots go to test-artifacts/ for a person to
// look at. Needs the guest (`npm run guest`) and a build (`npm test` builds first).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { DEFAULT_BIOS } from '../main/vmm-host.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { createHostApi } from '../main/api.ts';
import { startWebServer } from '../main/server.ts';
import { bootSectorImage } from './boot-sector.ts';
import { artifacts, browserSkipReason, launchChromium, newKernelVmForm, powerOffConfirmed, rendererDir } from './browser-support.ts';

const root = new URL('..', import.meta.url).pathname;
const guest = join(root, '.cache', 'guest');
const manifestPath = join(guest, 'manifest.json');

function skipReason(): string | false {
  const browser = browserSkipReason();
  const missing = browser || (!existsSync(manifestPath) ? 'no test guest (run `npm run guest`)' : !existsSync(join(root, 'dist', 'vmm-worker.mjs')) ? 'the VMM is not built' : false);
  // In CI everything is installed first: a missing piece there is a failure, not a skip.
  if (missing && process.env.CI) throw new Error(`browser guest test cannot run in CI: ${missing}`);
  return missing;
}

test('web mode with the real guest: create, power on, shell, uname -r, power off, restart', { skip: skipReason(), timeout: 20 * 60_000 }, async () => {
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { kernelRelease: string; readyMarker: string; prompt: string };
  const dataDir = mkdtempSync(join(tmpdir(), 'hostbox-guest-ui-'));
  let host = createHostApi({ dataDir });
  let server = await startWebServer({ rendererDir, api: host.api, methods: host.methods, subscribe: host.subscribe });
  const browser = await launchChromium();
  mkdirSync(artifacts, { recursive: true });
  try {
    const page = await browser.newPage({ viewport: { width: 1360, height: 860 } });
    await page.goto(server.url);
    await newKernelVmForm(page);
    await page.fill('input[name=name]', 'Debian test guest');
    await page.fill('input[name=memory]', '256');
    await page.fill('input[name=kernelPath]', join(guest, 'vmlinuz'));
    await page.fill('input[name=initrdPath]', join(guest, 'initrd.img'));
    // The kernel log goes to the screen as well; the shell is on the serial console (the last console=).
    await page.fill('input[name=cmdline]', 'console=tty0 console=ttyS0');
    await page.click('button[type=submit]');
    await page.locator('.vm-header h1', { hasText: 'Debian test guest' }).waitFor();
    await page.locator('.vm-header .chip-off').waitFor();
    await page.screenshot({ path: join(artifacts, 'web-library.png') });

    await page.getByRole('button', { name: 'Power on' }).click();
    await page.locator('.vm-header .chip-running').waitFor({ timeout: 60_000 });
    const xterm = page.locator('.xterm-rows');
    await xterm.filter({ hasText: manifest.readyMarker }).waitFor({ timeout: 15 * 60_000 });
    await xterm.filter({ hasText: manifest.prompt.trim() }).waitFor({ timeout: 60_000 });
    await page.locator('[data-testid=serial-console]').click();
    await page.keyboard.type('uname -r');
    await page.keyboard.press('Enter');
    // The release on a line of its own: the guest's answer, not the echo of the command.
    await page.waitForFunction(
      (release) => [...document.querySelectorAll('.xterm-rows > div')].some((row) => (row.textContent ?? '').trim() === release),
      manifest.kernelRelease,
      { timeout: 120_000 },
    );
    await page.screenshot({ path: join(artifacts, 'web-console-guest.png') });
    await page.getByRole('tab', { name: 'Screen' }).click();
    await page.screenshot({ path: join(artifacts, 'web-screen-guest.png') });
    await page.getByRole('tab', { name: 'Serial console (COM1)' }).click();

    await powerOffConfirmed(page);
    await page.locator('.vm-header .chip-off').waitFor({ timeout: 30_000 });
    assert.equal((await host.api.listVms())[0]!.power, 'off');

    // A new server on the same data folder still has the VM.
    await page.close();
    await host.close();
    await server.close();
    host = createHostApi({ dataDir });
    server = await startWebServer({ rendererDir, api: host.api, methods: host.methods, subscribe: host.subscribe });
    const again = await browser.newPage({ viewport: { width: 1360, height: 860 } });
    await again.goto(server.url);
    await again.locator('.vm-list li', { hasText: 'Debian test guest' }).locator('.chip-off').waitFor();
    await again.locator('.vm-list li', { hasText: 'Debian test guest' }).click();
    await again.locator('.summary', { hasText: '256 MiB' }).waitFor();
    const [vm] = await host.api.listVms();
    assert.equal(vm!.kernelPath, join(guest, 'vmlinuz'));
    assert.ok(vm!.lastRunAt);
  } finally {
    await browser.close();
    await host.close();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

/** Web mode on a fresh library: a VM booting `disk` made through the form, powered on, its Screen tab open. */
async function withDiskVm(name: string, source: string, sector2: string | undefined, body: (page: Page, host: ReturnType<typeof createHostApi>) => Promise<void>): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hostbox-disk-ui-'));
  // The image lives outside the data folder: Hostbox refuses disks among its own files.
  const imageDir = mkdtempSync(join(tmpdir(), 'hostbox-disk-img-'));
  const disk = join(imageDir, `${source}.img`);
  writeFileSync(disk, bootSectorImage(source, 2 * 1024 * 1024, sector2));
  const host = createHostApi({ dataDir });
  const server = await startWebServer({ rendererDir, api: host.api, methods: host.methods, subscribe: host.subscribe });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1360, height: 860 } });
    await page.goto(server.url);
    await newKernelVmForm(page);
    await page.fill('input[name=name]', name);
    await page.fill('input[name=memory]', '32');
    await page.locator('.segmented label', { hasText: 'Hard disk' }).click();
    await page.selectOption('select[name=disk]', 'existing');
    await page.fill('input[name=hdaPath]', disk);
    await page.click('button[type=submit]');
    await page.locator('.vm-header h1', { hasText: name }).waitFor();
    await page.getByRole('button', { name: 'Power on' }).click();
    await page.getByRole('tab', { name: 'Screen' }).click();
    await body(page, host);
    await powerOffConfirmed(page);
    await page.locator('.vm-header .chip-off').waitFor();
  } finally {
    await browser.close();
    await host.close();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(imageDir, { recursive: true, force: true });
  }
}

/** The screen canvas's size and the colour the page drew at (x, y), as "WxH #rrggbb". */
function screenAt(page: Page, x: number, y: number): Promise<string> {
  return page.evaluate(([px, py]) => {
    const c = document.querySelector('canvas.vga') as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(px!, py!, 1, 1).data;
    return `${c.width}x${c.height} #` + [d[0], d[1], d[2]].map((v) => v!.toString(16).padStart(2, '0')).join('');
  }, [x, y]);
}

async function screenShows(page: Page, x: number, y: number, want: string, what: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  let got = '';
  while ((got = await screenAt(page, x, y)) !== want) {
    assert.ok(Date.now() < deadline, `${what}: the screen shows ${got}, not ${want}`);
    await page.waitForTimeout(200);
  }
}

const biosSkip = browserSkipReason() || (!existsSync(DEFAULT_BIOS.bios) && 'SeaBIOS is not installed');

test('web mode: a VM that boots from its disk shows SeaBIOS and the boot sector on its screen', { skip: biosSkip, timeout: 5 * 60_000 }, async () => {
  await withDiskVm('Boot sector', 'mbr-hello.asm', 'Sector two says hello\r\n\0', async (page, host) => {
    // The canvas has no text to query: read the screen the host API streams instead, as the page draws it.
    const [vm] = await host.api.listVms();
    const seen: string[] = [];
    host.subscribe((e) => {
      if (e.type !== 'screen' || e.id !== vm!.id) return;
      void host.api.screenUpdate(vm!.id, 0).then((u) => {
        if (u.kind === 'text') seen.push(Array.from(u.cells.filter((_c, i) => i % 2 === 0), (c) => String.fromCharCode(c || 32)).join(''));
      });
    });
    const deadline = Date.now() + 120_000;
    while (!seen.some((t) => t.includes('Sector two says hello'))) {
      assert.ok(Date.now() < deadline, `the boot sector's message never reached the screen; last: ${seen.at(-1)?.replace(/ +/g, ' ')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(seen.some((t) => /SeaBIOS \(version/.test(t)));
    await page.waitForTimeout(500);
    await page.screenshot({ path: join(artifacts, 'web-disk-boot.png') });
  });
});

test('web mode: a boot sector that draws in VGA graphics modes shows its picture, and a key typed on the screen reaches it', { skip: biosSkip, timeout: 5 * 60_000 }, async () => {
  await withDiskVm('Graphics', 'mbr-graphics.asm', undefined, async (page) => {
    // Mode 13h, doubled to 640 wide and stretched to 4:3: pixel (33, 0) is DAC entry 21h, set to orange.
    await screenShows(page, 67, 1, '640x480 #ff8200', 'mode 13h');
    assert.equal(await screenAt(page, 3, 1), '640x480 #0000aa');
    await page.screenshot({ path: join(artifacts, 'web-graphics-13h.png') });
    await page.locator('canvas.vga').press('Enter');
    // Mode 12h: sixteen stripes of the EGA colours; stripe 6 is brown, stripe 14 yellow.
    await screenShows(page, 6 * 40 + 20, 240, '640x480 #aa5500', 'mode 12h');
    // The guest draws row after row: the middle can be there before the lower rows are.
    await screenShows(page, 14 * 40 + 20, 400, '640x480 #ffff55', 'mode 12h, a lower row');
    assert.equal(await screenAt(page, 20, 10), '640x480 #000000');
    await page.screenshot({ path: join(artifacts, 'web-graphics-12h.png') });
  });
});

test('web mode: VESA modes, a banked 256-colour one and a direct-colour one on the linear framebuffer, reach the screen', { skip: biosSkip, timeout: 5 * 60_000 }, async () => {
  await withDiskVm('VBE', 'mbr-vbe.asm', undefined, async (page) => {
    // Mode 101h: row y has colour y; colour 4 is the EGA red of the BIOS's default palette.
    await screenShows(page, 100, 4, '640x480 #aa0000', 'mode 101h');
    await page.locator('canvas.vga').press('Enter');
    await screenShows(page, 320, 240, '640x480 #ff8000', 'mode 112h');
    // The guest fills the framebuffer a pixel at a time: the centre can be orange before the last line is.
    await screenShows(page, 639, 479, '640x480 #ff8000', 'mode 112h, the last pixel');
    await page.screenshot({ path: join(artifacts, 'web-vbe-112h.png') });
  });
});
