// A VM's snapshots as a tree (VMware's Snapshot Manager, in a panel): each with its name, when it was
// taken, whether it holds the running machine, and the disk space it takes; where the VM is now;
// and Take, Revert and Delete. Revert and Delete ask first, saying what goes.
import { useEffect, useState } from 'react';
import type { SnapshotInfo, SnapshotList, VmInfo } from '../../main/api-types.ts';
import { api } from './api-client.ts';

function size(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024).toFixed(1)} KiB`;
}

/** Depth-first order with each snapshot's depth, children after their parent. */
function tree(list: SnapshotInfo[]): { s: SnapshotInfo; depth: number }[] {
  const out: { s: SnapshotInfo; depth: number }[] = [];
  const ids = new Set(list.map((s) => s.id));
  const walk = (parent: string | null, depth: number): void => {
    for (const s of list.filter((x) => (x.parentId && ids.has(x.parentId) ? x.parentId : null) === parent)) {
      out.push({ s, depth });
      walk(s.id, depth + 1);
    }
  };
  walk(null, 0);
  return out;
}

type Asking = { kind: 'revert' | 'delete'; s: SnapshotInfo } | null;

export function SnapshotPanel(props: { vm: VmInfo }) {
  const { vm } = props;
  const [list, setList] = useState<SnapshotList | null>(null);
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [asking, setAsking] = useState<Asking>(null);
  useEffect(() => {
    let live = true;
    void api.listSnapshots(vm.id).then((l) => live && setList(l), () => {});
    return () => {
      live = false;
    };
  }, [vm.id, vm.power, vm.currentSnapshot, vm.currentDisk]);
  const act = async (f: () => Promise<SnapshotList>): Promise<void> => {
    setError(null);
    setBusy(true);
    try {
      setList(await f());
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
      setAsking(null);
    }
  };
  const rows = tree(list?.snapshots ?? []);
  const canTake = vm.power === 'off' || vm.power === 'crashed' || vm.power === 'running' || vm.power === 'halted';
  return (
    <div className="card snapshot-panel" data-testid="snapshots">
      <h3>Snapshots</h3>
      {rows.length ? (
        <ul className="snapshot-tree">
          {rows.map(({ s, depth }) => (
            <li key={s.id} style={{ paddingLeft: `${depth * 1.25}rem` }} data-snapshot={s.name}>
              <span className="snapshot-name">{s.name}</span>
              <span className="muted">
                {' '}
                {new Date(s.createdAt).toLocaleString()} · {s.withMemory ? 'running machine and disk' : 'disk'} · {size(s.bytes)}
              </span>
              {list?.current === s.id ? <span className="chip chip-here">You are here{list.currentBytes ? ` (+${size(list.currentBytes)} since)` : ''}</span> : null}
              <span className="snapshot-actions">
                <button onClick={() => setAsking({ kind: 'revert', s })} disabled={busy} aria-label={`Revert to ${s.name}`}>
                  Revert…
                </button>
                <button className="danger" onClick={() => setAsking({ kind: 'delete', s })} disabled={busy} aria-label={`Delete snapshot ${s.name}`}>
                  Delete…
                </button>
              </span>
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted">No snapshots. A snapshot keeps this VM's disk (and, while it runs, its whole machine) as it is now, to return to later.</p>
      )}
      <form
        className="snapshot-take"
        onSubmit={(e) => {
          e.preventDefault();
          void act(async () => {
            const l = await api.takeSnapshot(vm.id, name);
            setName('');
            return l;
          });
        }}
      >
        <input name="snapshotName" placeholder="Snapshot name" value={name} maxLength={200} onChange={(e) => setName(e.target.value)} disabled={busy || !canTake} />
        <button type="submit" disabled={busy || !canTake || !name.trim()}>
          {busy ? 'Working…' : 'Take snapshot'}
        </button>
      </form>
      {error ? (
        <div className="field-error" role="alert">
          {error}
        </div>
      ) : null}
      {asking ? (
        <div className="modal-backdrop">
          <div className="modal card" role="dialog" aria-modal="true" aria-labelledby="snapshot-ask">
            <h2 id="snapshot-ask">
              {asking.kind === 'revert' ? 'Revert' : 'Delete'} “{asking.s.name}”?
            </h2>
            <p>
              {asking.kind === 'revert'
                ? `${vm.name} returns to this snapshot${asking.s.withMemory ? ', suspended at that moment (Power on continues it)' : ', powered off'}. What changed since the VM was last at a snapshot is lost${vm.power === 'running' || vm.power === 'halted' ? ', and the running VM is powered off first' : ''}.${vm.folders.length ? (asking.s.withMemory ? ' Its host folders are not touched: the guest sees its folder disks as they were at the snapshot, and what was synced to the folders since stays there.' : ' Its host folders are not touched: what was synced to them stays, and the guest sees them as they are at its next power-on.') : ''}`
                : list?.current === asking.s.id
                  ? `The VM's disk changes since this snapshot are merged into its disk: nothing of the present state is lost, only the point to return to.`
                  : `Its disk changes and saved machine are deleted: you can no longer return to it.`}
            </p>
            <div className="actions">
              <button onClick={() => setAsking(null)} autoFocus>
                Cancel
              </button>
              <button
                className="danger solid"
                disabled={busy}
                onClick={() => void act(() => (asking.kind === 'revert' ? api.revertSnapshot(vm.id, asking.s.id) : api.deleteSnapshot(vm.id, asking.s.id)))}
              >
                {asking.kind === 'revert' ? 'Revert' : 'Delete snapshot'}
              </button>
            </div>
          </div>
        </div>
      ) : null}
    </div>
  );
}
