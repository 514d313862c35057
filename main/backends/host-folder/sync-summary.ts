// What a folder sync did, in the words the command line and the app show the user.

import type { SyncReport } from './folder-sync.ts';

/** When a sync ran: on request while the VM runs, at its suspend, or at its power-off. */
export type SyncMoment = 'now' | 'suspend' | 'poweroff';

/** The summary of a sync; `error` when it did not happen (the folder is then unchanged). */
export function describeSync(folder: string, readOnly: boolean, report: SyncReport | null, moment: SyncMoment = 'poweroff', error?: Error): string[] {
  if (error)
    return [
      moment === 'poweroff'
        ? `folder ${folder} was not synced: ${error.message}; the folder is unchanged`
        : `folder ${folder} was not synced: ${error.message}; the folder is unchanged, and the guest's changes are kept with the VM for a later sync`,
    ];
  if (readOnly || !report)
    return [moment === 'poweroff' ? `folder ${folder} is attached read-only: the guest's changes were dropped` : `folder ${folder} is attached read-only: nothing is synced (the guest's changes are dropped at power-off)`];
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
    [r.alreadyThere.length, 'already on the host'],
  ].filter(([n]) => n) as [number, string][];
  const lines = [`folder ${folder} synced: ${counts.length ? counts.map(([n, w]) => `${n} ${w}`).join(', ') : 'the guest changed nothing'}`];
  for (const c of r.conflicts) lines.push(`  conflict: ${c}`);
  for (const c of r.refused) lines.push(`  refused: ${c}`);
  return lines;
}
