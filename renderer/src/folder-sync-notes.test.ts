// The folder-sync summary names files the guest chose: whatever those names hold, the page shows
// them as text, and they cannot change how the host's words around them read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describeSync } from '../../main/backends/host-folder/sync-summary.ts';
import { FolderSyncNotes } from './folder-sync-notes.tsx';

const RLO = '\u202e';
const LRI = '\u2066';

function summary(names: string[]): string[] {
  const report = { written: [], created: [], deleted: [], moved: [], dirsMade: [], dirsRemoved: [], alreadyThere: [], refused: [], conflicts: names.map((n) => `${n}: changed on the host since the guest was shown it; the guest's version is ${n}.guest`) };
  return describeSync('/home/me/shared', false, report, 'poweroff');
}

test('direction overrides and control characters in guest file names are shown, not obeyed', () => {
  // "report" + RLO + "fdp.exe" reads as "reportexe.pdf", and the override runs on over the host's
  // words that follow the name; an isolate opened and never closed does the same.
  const lines = summary([`report${RLO}fdp.exe`, `a${LRI}b`, 'bell\x07esc\x1b[31mred\x9b1m', '<img src=x onerror=alert(1)>']);
  const html = renderToStaticMarkup(createElement(FolderSyncNotes, { ok: true, lines }));
  for (const c of [RLO, LRI, '\x07', '\x1b', '\x9b']) assert.ok(!html.includes(c), `U+${c.codePointAt(0)!.toString(16).padStart(4, '0')} reached the page`);
  assert.ok(html.includes('report\\u202efdp.exe: changed on the host since'), html);
  assert.ok(html.includes('bell\\u0007esc\\u001b[31mred\\u009b1m'), html);
  assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;'), html);
  assert.ok(!html.includes('<img'), html);
});

test('a summary without odd characters is shown as it is', () => {
  const lines = summary(['docs/plan é 日本.txt']);
  const html = renderToStaticMarkup(createElement(FolderSyncNotes, { ok: true, lines }));
  for (const l of lines) assert.ok(html.includes(`<div>${l.replace(/'/g, '&#x27;')}</div>`), html);
});
