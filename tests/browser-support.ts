// Shared by the browser tests: Debian's Chromium driven by playwright-core (the bundled browsers of
// `npx playwright install` cannot be downloaded here), and where the renderer and artifacts live.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { skipOrFailInCi } from './prerequisites.ts';

const root = new URL('..', import.meta.url).pathname;
export const rendererDir = join(root, 'dist', 'renderer');
/** Screenshots for a person to look at (git-ignored). */
export const artifacts = join(root, 'test-artifacts');
const CHROMIUM = '/usr/bin/chromium';

export function browserSkipReason(): string | false {
  if (!existsSync(CHROMIUM)) return skipOrFailInCi('Chromium is not installed (apt-get install chromium)');
  if (!existsSync(join(rendererDir, 'index.html'))) return skipOrFailInCi('the renderer is not built (npm run build)');
  return false;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** From the first-run page (an empty library, or no VM chosen) to the New VM form for a kernel. */
export async function newKernelVmForm(page: import('playwright-core').Page): Promise<void> {
  await page.getByRole('button', { name: 'Create a VM from a kernel' }).click();
  await page.getByText('New virtual machine').waitFor();
}

/** Power off asks first: press it and confirm in the dialog. */
export async function powerOffConfirmed(page: import('playwright-core').Page): Promise<void> {
  await page.locator('.vm-header').getByRole('button', { name: 'Power off' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Power off' }).click();
}
