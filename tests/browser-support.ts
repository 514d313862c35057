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

/**
 * Runs axe-core (injected into the page as a script) and fails on serious or critical violations,
 * naming each rule and the elements it found. The page's CSP allows scripts only from the app, so
 * the script goes in through the browser's own evaluation channel, which the CSP does not govern.
 */
export async function expectAccessible(page: import('playwright-core').Page, what: string): Promise<void> {
  const { readFileSync } = await import('node:fs');
  const { createRequire } = await import('node:module');
  const source = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(source);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: Document, opts: object): Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[] }> } }).axe;
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 5).map((n) => JSON.stringify(n.target)) }));
  });
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length) throw new Error(`${what}: ${bad.length} serious accessibility violations:\n${bad.map((v) => `  ${v.impact} ${v.id}: ${v.help} at ${v.targets.join(', ')}`).join('\n')}`);
}
