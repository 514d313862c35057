// What the engine keeps per guest page and per translation stays within its stated bounds whatever
// the guest does (README, "Bounded memory"): guests built to defeat each bound, run under the
// translator and the check engine, and compared with the interpreter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Box } from '../system-tests/box.ts';
import { MAX_DROPPED_CHARS } from './engine.ts';
import type { Translation } from './translate.ts';
import { EVERY_ENGINE, asm, flatBox, runToHalt } from './test-kit.ts';

/** Where the pages of code the guests below run one after another begin (above the test kit's code and stack). */
const PAGES = 0x100000;

/** Runs `code` under every engine with each of `pages` copied to the page at its address; the interpreter first. */
function runWithPages(code: number[], pages: readonly (readonly [number, number[]])[], setup: (b: Box) => void = () => {}): Box[] {
  return EVERY_ENGINE.map((engine) => {
    const box = flatBox(code, engine);
    for (const [at, bytes] of pages) box.mem.u8.set(bytes, at);
    setup(box);
    runToHalt(box, 50_000_000);
    return box;
  });
}

/** The translator and the check engine (runWithPages' second and third) end with the interpreter's registers. */
function assertSameRegisters(boxes: Box[]): void {
  boxes.forEach((b, k) => assert.deepEqual(Array.from(b.cpu.r32), Array.from(boxes[0]!.cpu.r32), `${EVERY_ENGINE[k]} registers`));
}

/** Collects garbage a few times over (a WeakRef holds its target until the current job ends). */
async function collectGarbage(): Promise<void> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  for (let k = 0; k < 6; k++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    gc();
  }
}

test('translations dropped after running do not stay reachable from the ones that ran before them beyond MAX_DROPPED_CHARS', async () => {
  // Phase k runs a small region on page R+k, which leaves (an indirect jump) into a region of 300
  // instructions (about 36,000 characters of JavaScript) on page B+k, which leaves back to the
  // driver; a few times over, then the driver writes page B+k, dropping that region. The region on
  // R+k, never run again, keeps its link to it, and a successor link went only when its holder ran
  // again: every region on the B pages stayed reachable until the next sweep (here 5 Mi characters;
  // a guest could go on for a whole sweep period, 256 Mi instructions, thousands of regions).
  const body = Array.from({ length: 150 }, (_, k) => `add edx, ${k * 7919}\n xor edi, edx`).join('\n');
  const tail = `xchg esi, ebp\n jmp ebp`;
  const big = asm(`${body}\n ${tail}`);
  const small = asm(tail);
  const phases = 150;
  const R = PAGES, B = PAGES + phases * 0x1000;
  const code = asm(`
    xor ebx, ebx
  phase: lea eax, [${R} + ebx]
    lea esi, [${B} + ebx]
    mov ebp, back
    mov ecx, 4
  iter: jmp eax
  back: dec ecx
    jnz iter
    mov byte [esi + 0xffc], 1
    add ebx, 0x1000
    cmp ebx, ${phases * 0x1000}
    jb phase
    hlt`);
  const pages = Array.from({ length: phases }, (_, k) => [[R + k * 0x1000, small], [B + k * 0x1000, big]] as const).flat();
  const made: { readonly fn: WeakRef<object>; readonly chars: number }[] = [];
  const boxes = runWithPages(code, pages, (b) => {
    const bt = b.cpu.bt;
    if (!bt) return;
    // Every region that runs, weakly (the check engine's execute runs it through runTranslation too).
    const seen = new WeakSet<object>();
    const run = bt.execute ?? ((t: Translation, budget: number): number => bt.runTranslation(t, budget));
    bt.execute = (t, budget) => {
      if (!seen.has(t.home.fn)) {
        seen.add(t.home.fn);
        made.push({ fn: new WeakRef(t.home.fn), chars: t.home.sourceChars });
      }
      return run(t, budget);
    };
  });
  assertSameRegisters(boxes);
  assert.equal(boxes[0]!.cpu.r32[3], phases * 0x1000);
  const live = new Set<object>(boxes.flatMap((b) => (b.cpu.bt ? [...b.cpu.bt.translations()].map((t) => t.fn) : [])));
  const madeChars = made.reduce((sum, m) => sum + m.chars, 0);
  assert.ok(madeChars > 4 * MAX_DROPPED_CHARS, `the guest made too little code to tell: ${madeChars} characters`);
  await collectGarbage();
  // Both engines' regions together: each engine may keep up to the bound.
  const kept = made.reduce((sum, m) => {
    const fn = m.fn.deref();
    return fn && !live.has(fn) ? sum + m.chars : sum;
  }, 0);
  assert.ok(kept <= 2 * MAX_DROPPED_CHARS, `dropped translations of ${kept} characters are still reachable (bound ${MAX_DROPPED_CHARS} an engine)`);
});

test('a page whose translations all went (written, or swept for not running) leaves no entry in the engine', () => {
  // 300 pages each run a short loop until it is translated, then are left: every other one written
  // by the driver, the rest swept once they stop running. A page's entry was kept for good (about 260
  // bytes), so a guest running code once on every page of a 3 GiB machine left 200 MB of them.
  const page = asm(`l: add edx, 1\n dec ecx\n jnz l\n jmp ebp`);
  const pages = 300;
  const code = asm(`
    xor ebx, ebx
    mov ebp, back
  next: lea eax, [${PAGES} + ebx]
    mov ecx, 40
    jmp eax
  back: test ebx, 0x1000
    jz kept
    mov byte [eax + 0xffc], 1
  kept: add ebx, 0x1000
    cmp ebx, ${pages * 0x1000}
    jb next
    mov ecx, 200000
  spin: dec ecx
    jnz spin
    hlt`);
  const boxes = runWithPages(code, Array.from({ length: pages }, (_, k) => [PAGES + k * 0x1000, page] as const), (b) => {
    b.cpu.sweepInsns = 50_000;
  });
  assertSameRegisters(boxes);
  for (const b of boxes.slice(1)) {
    const bt = b.cpu.bt!;
    assert.ok(bt.stats.made >= pages, `each page was translated: ${JSON.stringify(bt.stats)}`);
    assert.ok(bt.stats.invalidations >= pages / 2 && bt.stats.swept >= pages / 2, `pages were written and swept: ${JSON.stringify(bt.stats)}`);
    const held = new Set([...bt.translations()].map((t) => t.phys >>> 12));
    assert.ok(bt.pagesHeld <= held.size, `the engine keeps ${bt.pagesHeld} page entries for ${held.size} pages holding translations`);
  }
});
