// One VM: its power controls, what it is set up with, what it is doing, and its consoles (serial
// in xterm.js, the VGA screen on a canvas). Its settings can be seen while it runs, and changed and
// deleted only while it is off.
import { useEffect, useState } from 'react';
import type { DeletePlan, VmActivity, VmInfo, NetStatus } from '../../main/api-types.ts';
import { api } from './api-client.ts';
import { SerialConsole } from './serial-console.tsx';
import { VgaScreenView } from './vga-screen.tsx';
import { PowerChip } from './power-chip.tsx';
import { DiscardStateButton, SuspendButton, SuspendedNote } from './suspend-controls.tsx';
import { SnapshotPanel } from './snapshot-panel.tsx';
import { ConfirmDialog, Dialog } from './dialog.tsx';
import { FolderSyncNotes } from './folder-sync-notes.tsx';

const isOn = (vm: VmInfo): boolean => vm.power === 'running' || vm.power === 'starting' || vm.power === 'halted' || vm.power === 'suspending';

function bytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}

function DeleteDialog(props: { plan: DeletePlan; onCancel(): void; onConfirm(): void; busy: boolean }) {
  const { plan } = props;
  return (
    <Dialog title={`Delete ${plan.name}?`} onCancel={props.onCancel}>
        <p>This removes the VM from the library and deletes its folder:</p>
        <code className="path">{plan.folder}</code>
        {plan.files.length ? (
          <ul className="file-list">
            {plan.files.map((f) => (
              <li key={f.name}>
                {f.name} <span className="muted">({bytes(f.bytes)})</span>
              </li>
            ))}
          </ul>
        ) : (
          <p className="muted">The folder holds no files.</p>
        )}
        {plan.kept.length ? (
          <>
            <p>These files it uses are outside its folder and are kept:</p>
            <ul className="file-list">
              {plan.kept.map((k) => (
                <li key={k}>
                  <code>{k}</code>
                </li>
              ))}
            </ul>
          </>
        ) : null}
        <div className="actions">
          <button onClick={props.onCancel} data-autofocus>
            Cancel
          </button>
          <button className="danger solid" onClick={props.onConfirm} disabled={props.busy}>
            Delete VM
          </button>
        </div>
    </Dialog>
  );
}

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h}:${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/** What a powered-on VM is doing: from the first instant, then refreshed by the VMM's reports each second. */
function ActivityLine(props: { vm: VmInfo; activity: VmActivity | null }) {
  const a = props.activity;
  const text =
    props.vm.power === 'starting'
      ? 'Starting the virtual machine…'
      : !a
        ? 'Powered on: waiting for the first report from the processor…'
        : `Guest ${a.mips >= 100 ? a.mips.toFixed(0) : a.mips.toFixed(1)} MIPS · VMM busy ${a.cpuPercent.toFixed(0)}% · Hostbox CPU ${a.hostCpuPercent.toFixed(0)}% · up ${duration(a.uptimeMs)} · ${(a.instructions / 1e9).toFixed(2)} billion instructions`;
  return (
    <div className="activity" data-testid="activity" title="MIPS: guest instructions per second. VMM busy: the share of time its VMM ran the guest rather than waiting for it (HLT). Hostbox CPU: the host process's CPU time, all its threads, in % of one core.">
      <span className={`pulse${a && a.mips > 0 ? ' on' : ''}`} aria-hidden="true" />
      {text}
      {props.vm.power === 'halted' ? ' · halted' : ''}
    </div>
  );
}

function Summary(props: { vm: VmInfo }) {
  const { vm } = props;
  const rows: [string, string][] = [
    ['Memory', `${vm.memoryMiB} MiB`],
    ['Boot', vm.boot === 'kernel' ? `Linux kernel ${vm.kernelPath}` : vm.boot === 'cdrom' ? 'CD-ROM, then hard disk (BIOS)' : 'Hard disk, then CD-ROM (BIOS)'],
  ];
  if (vm.boot === 'kernel' && vm.initrdPath) rows.push(['Initial ramdisk', vm.initrdPath]);
  if (vm.boot === 'kernel' && vm.cmdline) rows.push(['Command line', vm.cmdline]);
  rows.push(['Hard disk', vm.hdaPath || 'None'], ['CD-ROM', vm.cdromPath || 'None'], ['Serial port', vm.serial === 'pty' ? 'Console and a host pty' : 'Console']);
  rows.push([
    'Network',
    vm.net === 'none'
      ? 'None'
      : `PCnet on NAT, ${vm.mac}${vm.hostAccess ? ', may reach this host' : ''}${vm.forwards ? `, forwards ${vm.forwards.split('\n').join(', ')}` : ''}`,
  ]);
  for (const [i, f] of (vm.folders ?? []).entries()) rows.push([`Host folder ${i + 1}`, `${f.path}${f.readOnly ? ' (read-only)' : ''}`]);
  rows.push(['Last run', vm.lastRunAt ? new Date(vm.lastRunAt).toLocaleString() : 'Never'], ['Folder', vm.folder]);
  return (
    <dl className="summary">
      {rows.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd title={v}>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

/** A running VM's network: the cable (which can be pulled and plugged back) and its traffic. */
function NetPanel(props: { vmId: string }) {
  const [st, setSt] = useState<NetStatus | null>(null);
  const [err, setErr] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    const poll = (): void => void api.netStatus(props.vmId).then((s) => live && setSt(s), () => {});
    poll();
    const t = setInterval(poll, 2000);
    return () => {
      live = false;
      clearInterval(t);
    };
  }, [props.vmId]);
  if (!st) return null;
  const kb = (n: number): string => (n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`);
  return (
    <div className="net-panel" data-testid="net-panel">
      <label className="check">
        <input
          type="checkbox"
          checked={st.cable}
          onChange={(e) => {
            const connected = e.target.checked;
            setErr(null);
            void api.setCable(props.vmId, connected).then(
              () => setSt({ ...st, cable: connected }),
              (x: Error) => setErr(x.message),
            );
          }}
        />
        Cable connected
      </label>
      <span>
        Sent {st.framesFromGuest} frames ({kb(st.bytesFromGuest)}), received {st.framesToGuest} ({kb(st.bytesToGuest)}); dropped {st.dropped}, refused {st.refused}
      </span>
      {err ? <span className="field-error">{err}</span> : null}
    </div>
  );
}

/** A running VM's CD drive: the disc in it, ejected or swapped for another ISO while the guest runs. */
function CdPanel(props: { vm: VmInfo }) {
  const { vm } = props;
  const [path, setPath] = useState('');
  const [err, setErr] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const change = (to: string): void => {
    setErr(null);
    setBusy(true);
    void api.changeCd(vm.id, to).then(
      () => {
        setBusy(false);
        if (to) setPath('');
      },
      (x: Error) => {
        setBusy(false);
        setErr(x.message);
      },
    );
  };
  return (
    <div className="cd-panel" data-testid="cd-panel">
      <span>
        CD: {vm.cdromPath ? <code title={vm.cdromPath}>{vm.cdromPath}</code> : <span className="muted">empty</span>}
      </span>
      <button onClick={() => change('')} disabled={busy || !vm.cdromPath}>
        Eject
      </button>
      <form
        className="cd-insert"
        onSubmit={(e) => {
          e.preventDefault();
          if (path.trim()) change(path.trim());
        }}
      >
        <input aria-label="ISO image to insert" placeholder="/path/to/image.iso" value={path} onChange={(e) => setPath(e.target.value)} />
        <button type="submit" disabled={busy || !path.trim()}>
          Insert
        </button>
      </form>
      {err ? <span className="field-error">{err}</span> : null}
    </div>
  );
}

export function VmView(props: { vm: VmInfo; activity: VmActivity | null; onEdit(): void; onDeleted(): void }) {
  const { vm } = props;
  const [error, setError] = useState<string | null>(null);
  const [plan, setPlan] = useState<DeletePlan | null>(null);
  const [confirmOff, setConfirmOff] = useState(false);
  const [note, setNote] = useState<string | null>(null);
  useEffect(() => {
    if (!isOn(vm)) setNote(null);
  }, [vm.power]);
  const [busy, setBusy] = useState(false);
  const [tab, setTab] = useState<'serial' | 'screen'>('serial');
  const [synced, setSynced] = useState<{ ok: boolean; lines: string[] } | null>(null);
  // An off VM with no output this session has nothing to show but empty consoles.
  const [hasOutput, setHasOutput] = useState(isOn(vm));
  useEffect(() => {
    if (isOn(vm)) setHasOutput(true);
    else void api.serialLog(vm.id).then((l) => setHasOutput(l.end > 0), () => {});
  }, [vm.id, vm.power]);
  const act = async (f: () => Promise<unknown>): Promise<void> => {
    setError(null);
    setBusy(true);
    try {
      await f();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const shownError = error ?? vm.error ?? null;
  return (
    <section className="vm-view">
      <header className="vm-header">
        <h1>{vm.name}</h1>
        <PowerChip power={vm.power} />
        <div className="spacer" />
        {isOn(vm) ? (
          <>
            <button onClick={props.onEdit}>Settings</button>
            <button onClick={() => void act(() => api.resetVm(vm.id))} disabled={busy || (vm.power !== 'running' && vm.power !== 'halted')}>
              Reset
            </button>
            <SuspendButton vm={vm} busy={busy} act={act} />
            <button
              onClick={() =>
                void act(async () => {
                  await api.shutdownGuest(vm.id);
                  setNote('The power button was pressed: the guest’s system decides how to shut down. If it does not handle the button, use Power off.');
                })
              }
              disabled={busy || vm.power !== 'running'}
              title="Presses the ACPI power button, as the button on a PC's case does"
            >
              Shut down guest
            </button>
            {vm.folders?.some((f) => !f.readOnly) ? (
              <button
                name="sync-folders"
                title="Unmount the folder disks in the guest first: the guest may still hold changes it has not written"
                onClick={() => void act(async () => setSynced(await api.syncFolders(vm.id)))}
                disabled={busy || vm.power !== 'running'}
              >
                Sync to host now
              </button>
            ) : null}
            <button className="danger" onClick={() => setConfirmOff(true)} disabled={busy}>
              Power off…
            </button>
          </>
        ) : (
          <>
            {vm.power === 'suspended' ? (
              <DiscardStateButton vm={vm} busy={busy} act={act} />
            ) : (
              <button onClick={props.onEdit} disabled={busy}>
                Settings
              </button>
            )}
            <button className="danger" onClick={() => void act(async () => setPlan(await api.deletePlan(vm.id)))} disabled={busy}>
              Delete…
            </button>
            <button className="primary" onClick={() => void act(() => api.powerOn(vm.id))} disabled={busy}>
              Power on
            </button>
          </>
        )}
      </header>
      {isOn(vm) ? <ActivityLine vm={vm} activity={props.activity} /> : null}
      {isOn(vm) ? <CdPanel vm={vm} /> : null}
      {isOn(vm) && vm.net === 'user' ? <NetPanel vmId={vm.id} /> : null}
      <SuspendedNote vm={vm} />
      {note && isOn(vm) ? (
        <div className="banner-info" role="status">
          {note}
        </div>
      ) : null}
      {shownError ? (
        <div className="banner-error" role="alert">
          {vm.power === 'crashed' ? 'The VM crashed: ' : ''}
          {shownError}
        </div>
      ) : null}
      {vm.ptyPath ? (
        <div className="banner-info">
          COM1 is also on the host pseudo-terminal <code>{vm.ptyPath}</code>: attach with <code>screen {vm.ptyPath}</code> or <code>minicom -D {vm.ptyPath}</code>.
        </div>
      ) : null}
      {vm.folders?.length && isOn(vm) ? (
        <div className="banner-info">
          Host folders are written back when the guest powers itself off, at a suspend, and on “Sync to host now” (unmount them in the guest
          first); a power cut here drops the guest's changes since the last sync.
        </div>
      ) : null}
      {synced && isOn(vm) ? <FolderSyncNotes ok={synced.ok} lines={synced.lines} /> : null}
      {vm.folderSync && !isOn(vm) ? <FolderSyncNotes ok lines={vm.folderSync} /> : null}
      <Summary vm={vm} />
      <SnapshotPanel vm={vm} />
      {hasOutput ? null : (
        <div className="card placeholder">
          <strong>{vm.name} is {vm.power === 'suspended' ? 'suspended' : 'powered off'}.</strong> Power it on to see its serial console and screen here.
        </div>
      )}
      <div className="console-tabs" role="tablist" hidden={!hasOutput}>
        <button role="tab" aria-selected={tab === 'serial'} className={tab === 'serial' ? 'on' : ''} onClick={() => setTab('serial')}>
          Serial console (COM1)
        </button>
        <button role="tab" aria-selected={tab === 'screen'} className={tab === 'screen' ? 'on' : ''} onClick={() => setTab('screen')}>
          Screen
        </button>
      </div>
      {/* Both stay mounted, so neither loses output while the other is shown. */}
      <div className="console-pane" hidden={!hasOutput || tab !== 'serial'}>
        <SerialConsole vmId={vm.id} />
      </div>
      <div className="console-pane" hidden={!hasOutput || tab !== 'screen'}>
        <VgaScreenView vmId={vm.id} running={isOn(vm)} onKeys={(c) => void api.sendKeys(vm.id, c).catch(() => {})} />
      </div>
      {confirmOff ? (
        <ConfirmDialog
          title={`Power off ${vm.name}?`}
          body={
            <p>
              This cuts the power at once, as pulling a PC’s plug does: what the guest has not saved is lost, and its file systems may need a check.
              To let the guest close down in order, use <strong>Shut down guest</strong> instead.
            </p>
          }
          confirm="Power off"
          danger
          busy={busy}
          onCancel={() => setConfirmOff(false)}
          onConfirm={() =>
            void act(async () => {
              setConfirmOff(false);
              await api.powerOff(vm.id);
            })
          }
        />
      ) : null}
      {plan ? (
        <DeleteDialog
          plan={plan}
          busy={busy}
          onCancel={() => setPlan(null)}
          onConfirm={() =>
            void act(async () => {
              await api.deleteVm(vm.id);
              setPlan(null);
              props.onDeleted();
            })
          }
        />
      ) : null}
    </section>
  );
}
