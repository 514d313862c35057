// What a folder sync did, in the words the command line and the app show the user.

import type { SyncReport } from './folder-sync.ts';

export function describeSync(folder: string, readOnly: boolean, report: SyncReport | null): string[] {
  if (readOnly || !report) return [`folder ${folder} is attached read-only: the guest's changes were dropped`];
  const r = report;
  const counts = [
    [r.written.length, 'changed'],
    [r.created.length, 'created'],
    [r.moved.length, 'renamed or moved'],
    [r.deleted.length, 'deleted'],
    [r.dirsMade.length, 'directories made'],
    [r.dirsRemoved.length, 'directories removed'],
    [r.conflicts.length, 'conflicts'],
    [r.refused.length, 'refused'],
  ].filter(([n]) => n) as [number, string][];
  const lines = [`folder ${folder} synced: ${counts.length ? counts.map(([n, w]) => `${n} ${w}`).join(', ') : 'the guest changed nothing'}`];
  for (const c of r.conflicts) lines.push(`  conflict: ${c}`);
  for (const c of r.refused) lines.push(`  refused: ${c}`);
  return lines;
}
