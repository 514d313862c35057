// The Screen tab with a real PC behind it (issue 14, item 5): a boot sector turns on the PS/2 mouse
// and writes every byte the keyboard controller hands it on the screen (tests/boot-sectors/
// mbr-mouse.asm). In Chromium the test captures the mouse with a click, moves it, clicks, types a
// key, sends Ctrl+Alt+Del with the button, and reads what the guest received; then reloads the page
// and finds the current picture back; then swaps the CD while the VM runs. Screenshots go to
// test-artifacts/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { createHostApi } from '../main/api.ts';
import { startWebServer } from '../main/server.ts';
import { DEFAULT_BIOS } from '../main/vmm-host.ts';
import { bootSectorImage } from './boot-sector.ts';
import { artifacts, browserSkipReason, launchChromium, powerOffConfirmed, rendererDir } from './browser-support.ts';
import { skipOrFailInCi } from './prerequisites.ts';

const skip = browserSkipReason() || (!existsSync(DEFAULT_BIOS.bios) && skipOrFailInCi('SeaBIOS is not installed (apt-get install seabios)'));

type Host = ReturnType<typeof createHostApi>;

/** The VM's text screen as the host has it now, row by row. */
async function screenText(host: Host, id: string): Promise<string> {
  const u = await host.api.screenUpdate(id, 0);
  if (u.kind !== 'text') return '';
  const rows: string[] = [];
  for (let r = 0; r < u.rows; r++) rows.push(Array.from({ length: u.cols }, (_x, c) => String.fromCharCode(u.cells[(r * u.cols + c) * 2] || 32)).join(''));
  return rows.join('\n');
}

/** The bytes the guest reported, in order: [source, byte] for "M:xx" and "K:xx". */
async function received(host: Host, id: string): Promise<['M' | 'K', number][]> {
  const text = (await screenText(host, id)).split('\n').slice(2).join(' ');
  return [...text.matchAll(/([MK]):([0-9A-F]{2})/g)].map((m) => [m[1] as 'M' | 'K', parseInt(m[2]!, 16)]);
}

async function until<T>(what: string, f: () => Promise<T | null | false>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    assert.ok(Date.now() < deadline, `timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Mouse packets after the acknowledgement of F4h: three bytes each, bit 3 of the first always set. */
function packets(bytes: ['M' | 'K', number][]): { dx: number; dy: number; buttons: number }[] {
  const m = bytes.filter(([s]) => s === 'M').map(([, b]) => b);
  const start = m.indexOf(0xfa);
  const out: { dx: number; dy: number; buttons: number }[] = [];
  for (let i = start + 1; i + 2 < m.length + 0; i += 3) {
    const [b0, x, y] = [m[i]!, m[i + 1]!, m[i + 2]!];
    assert.ok(b0 & 0x08, `packet ${i} starts with ${b0.toString(16)}: out of step`);
    out.push({ dx: b0 & 0x10 ? x - 256 : x, dy: b0 & 0x20 ? y - 256 : y, buttons: b0 & 7 });
  }
  return out;
}

/** The screen canvas's size and the colour the page drew at (x, y), as "WxH #rrggbb". */
function screenAt(page: Page, x: number, y: number): Promise<string> {
  return page.evaluate(([px, py]) => {
    const c = document.querySelector('canvas.vga') as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(px!, py!, 1, 1).data;
    return `${c.width}x${c.height} #` + [d[0], d[1], d[2]].map((v) => v!.toString(16).padStart(2, '0')).join('');
  }, [x, y]);
}

test('Screen tab: PS/2 mouse and keyboard reach a guest program, Ctrl+Alt+Del, the picture survives a reload, the CD changes while running', { skip, timeout: 5 * 60_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hostbox-screen-ui-'));
  const imageDir = mkdtempSync(join(tmpdir(), 'hostbox-screen-img-'));
  const disk = join(imageDir, 'mouse.img');
  writeFileSync(disk, bootSectorImage('mbr-mouse.asm', 2 * 1024 * 1024));
  const iso = join(imageDir, 'disc.iso');
  writeFileSync(iso, new Uint8Array(2048 * 16));
  const host = createHostApi({ dataDir });
  const server = await startWebServer({ rendererDir, api: host.api, methods: host.methods, subscribe: host.subscribe });
  const browser = await launchChromium();
  mkdirSync(artifacts, { recursive: true });
  try {
    const page = await browser.newPage({ viewport: { width: 1360, height: 860 } });
    await page.goto(server.url);
    await page.getByRole('button', { name: '+ New VM' }).click();
    await page.getByText('New virtual machine').waitFor();
    await page.fill('input[name=name]', 'Mouse');
    await page.fill('input[name=memory]', '32');
    await page.locator('.segmented label', { hasText: 'Hard disk' }).click();
    await page.selectOption('select[name=disk]', 'existing');
    await page.fill('input[name=hdaPath]', disk);
    await page.click('button[type=submit]');
    await page.locator('.vm-header h1', { hasText: 'Mouse' }).waitFor();
    const [vm] = await host.api.listVms();
    const id = vm!.id;
    await page.getByRole('button', { name: 'Power on' }).click();
    await page.getByRole('tab', { name: 'Screen' }).click();
    await until('the boot sector enables the mouse', async () => (await screenText(host, id)).includes('HOSTBOX MOUSE TEST') && (await received(host, id)).some(([s, b]) => s === 'M' && b === 0xfa));
    await page.screenshot({ path: join(artifacts, 'screen-mouse-ready.png') });

    // Capture: a click on the screen takes the pointer; the release key is shown.
    const canvas = page.locator('canvas.vga');
    const box = (await canvas.boundingBox())!;
    const cx = box.x + box.width / 2;
    const cy = box.y + box.height / 2;
    await page.mouse.move(cx, cy);
    await page.mouse.click(cx, cy);
    await page.getByTestId('mouse-hint').filter({ hasText: 'Ctrl+Alt' }).waitFor({ timeout: 10_000 });
    const before = packets(await received(host, id)).length;
    // Right 40, up 20 (the mouse reports up as positive), then a left click.
    await page.mouse.move(cx + 40, cy - 20, { steps: 4 });
    await until('motion packets', async () => {
      const p = packets(await received(host, id)).slice(before);
      const sx = p.reduce((a, q) => a + q.dx, 0);
      const sy = p.reduce((a, q) => a + q.dy, 0);
      return sx === 40 && sy === 20;
    }, 20_000);
    await page.mouse.down();
    await page.mouse.up();
    await until('a left click: the button down, then up', async () => {
      const p = packets(await received(host, id)).slice(before);
      const down = p.findIndex((q) => q.buttons === 1);
      return down >= 0 && p.slice(down + 1).some((q) => q.buttons === 0);
    }, 20_000);
    // A key on the focused screen: A's make and break codes (set 1, as the controller translates).
    await page.keyboard.press('KeyA');
    await until('the key A', async () => {
      const k = (await received(host, id)).filter(([s]) => s === 'K').map(([, b]) => b);
      return k.includes(0x1e) && k.includes(0x9e);
    }, 20_000);
    await page.screenshot({ path: join(artifacts, 'screen-mouse-input.png') });
    // Ctrl+Alt releases the mouse (the guest sees those keys too).
    await page.keyboard.down('Control');
    await page.keyboard.down('Alt');
    await page.keyboard.up('Alt');
    await page.keyboard.up('Control');
    await page.getByTestId('mouse-hint').filter({ hasText: 'Click the screen' }).waitFor({ timeout: 10_000 });
    await page.getByRole('button', { name: 'Send Ctrl+Alt+Del' }).click();
    await until('Ctrl+Alt+Del from the button', async () => {
      const k = (await received(host, id)).filter(([s]) => s === 'K').map(([, b]) => b);
      const at = k.lastIndexOf(0x1d);
      return at >= 0 && k.slice(at, at + 8).join(',') === [0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d].join(',');
    }, 20_000);

    // 1:1 shows the text screen at its own size (80 x 9 by 25 x 16 pixels).
    await page.getByRole('button', { name: '1:1' }).click();
    assert.equal(Math.round((await canvas.boundingBox())!.width), 720);
    await page.screenshot({ path: join(artifacts, 'screen-actual-size.png') });
    await page.getByRole('button', { name: 'Scale to fit' }).click();
    assert.ok((await canvas.boundingBox())!.width > 720, 'scaled up to the space there is');
    // Fullscreen: the screen and its bar fill the display, the picture scaled to fit it.
    await page.getByRole('button', { name: 'Fullscreen' }).click();
    await page.getByRole('button', { name: 'Exit fullscreen' }).waitFor({ timeout: 10_000 });
    assert.equal(await page.evaluate(() => document.fullscreenElement?.className), 'screen-wrap full');
    await page.screenshot({ path: join(artifacts, 'screen-fullscreen.png') });
    await page.getByRole('button', { name: 'Exit fullscreen' }).click();
    await page.getByRole('button', { name: 'Fullscreen' }).waitFor({ timeout: 10_000 });

    // A reloaded page gets the current picture at once, although nothing on the screen changes.
    const shown = await screenText(host, id);
    await page.reload();
    await page.getByRole('tab', { name: 'Screen' }).click();
    await until('the picture after a reload', async () => (await screenAt(page, 4, 2)) === '720x400 #0000aa', 20_000);
    assert.equal(await screenText(host, id), shown, 'the guest drew nothing meanwhile');
    await page.screenshot({ path: join(artifacts, 'screen-after-reload.png') });

    // The CD drive: empty at power-on, a disc goes in and comes out while the VM runs.
    const cd = page.getByTestId('cd-panel');
    await cd.getByText('empty').waitFor();
    await cd.getByLabel('ISO image to insert').fill(join(imageDir, 'missing.iso'));
    await cd.getByRole('button', { name: 'Insert' }).click();
    await cd.locator('.field-error', { hasText: 'does not exist' }).waitFor();
    await cd.getByLabel('ISO image to insert').fill(iso);
    await cd.getByRole('button', { name: 'Insert' }).click();
    await cd.locator('code', { hasText: iso }).waitFor();
    assert.equal((await host.api.listVms())[0]!.cdromPath, iso);
    await page.screenshot({ path: join(artifacts, 'screen-cd-inserted.png') });
    await cd.getByRole('button', { name: 'Eject' }).click();
    await cd.getByText('empty').waitFor();

    await powerOffConfirmed(page);
    await page.locator('.vm-header .chip-off').waitFor();
  } finally {
    await browser.close();
    await host.close();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(imageDir, { recursive: true, force: true });
  }
});
