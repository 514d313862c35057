// Hostbox's window: the VM library on the left, and on the right the selected VM (its controls and
// consoles), its settings, or the New VM form.
import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import type { VmCreateSettings, VmInfo } from '../../main/api-types.ts';
import { api } from './api-client.ts';
import { VmForm } from './vm-form.tsx';
import { VmView } from './vm-view.tsx';
import { PowerChip } from './power-chip.tsx';
import './styles.css';

type View = { kind: 'vm'; id: string } | { kind: 'settings'; id: string } | { kind: 'new' } | { kind: 'empty' };

const byCreation = (a: VmInfo, b: VmInfo): number => a.createdAt.localeCompare(b.createdAt) || a.name.localeCompare(b.name);

function Welcome(props: { onNew(): void }) {
  return (
    <div className="card welcome">
      <h2>No virtual machines yet</h2>
      <p>A VM boots a Linux kernel straight from files on this computer, or (soon) its own disks. Its files live in the Hostbox library.</p>
      <button className="primary" onClick={props.onNew}>
        Create a VM
      </button>
    </div>
  );
}

function App() {
  const [vms, setVms] = useState<VmInfo[] | null>(null);
  const [view, setView] = useState<View>({ kind: 'empty' });
  const [about, setAbout] = useState<{ version: string; dataDir: string } | null>(null);
  const [defaults, setDefaults] = useState<VmCreateSettings | null>(null);
  const [fatal, setFatal] = useState<string | null>(null);
  useEffect(() => {
    void api.version().then(setAbout, (e: Error) => setFatal(e.message));
    void api.defaultSettings().then(setDefaults, () => {});
    void api.listVms().then(
      (list) => {
        const sorted = [...list].sort(byCreation);
        setVms(sorted);
        setView(sorted[0] ? { kind: 'vm', id: sorted[0].id } : { kind: 'new' });
      },
      (e: Error) => setFatal(e.message),
    );
    return api.onEvent((e) => {
      if (e.type === 'vm') setVms((list) => [...(list ?? []).filter((v) => v.id !== e.vm.id), e.vm].sort(byCreation));
      else if (e.type === 'vm-deleted') setVms((list) => (list ?? []).filter((v) => v.id !== e.id));
    });
  }, []);
  const current = view.kind === 'vm' || view.kind === 'settings' ? (vms?.find((v) => v.id === view.id) ?? null) : null;
  let body: React.ReactNode;
  if (fatal) body = <div className="banner-error">{fatal}</div>;
  else if (view.kind === 'new' && defaults)
    body = (
      <VmForm
        key="new"
        mode="create"
        initial={defaults}
        onSaved={(vm) => {
          setVms((list) => [...(list ?? []).filter((v) => v.id !== vm.id), vm].sort(byCreation));
          setView({ kind: 'vm', id: vm.id });
        }}
        onCancel={vms?.length ? () => setView({ kind: 'vm', id: vms[0]!.id }) : undefined}
      />
    );
  else if (view.kind === 'settings' && current)
    body = <VmForm key={`edit-${current.id}`} mode="edit" vmId={current.id} initial={current} onSaved={(vm) => setView({ kind: 'vm', id: vm.id })} onCancel={() => setView({ kind: 'vm', id: current.id })} />;
  else if (view.kind === 'vm' && current)
    body = (
      <VmView
        key={current.id}
        vm={current}
        onEdit={() => setView({ kind: 'settings', id: current.id })}
        onDeleted={() => {
          const rest = (vms ?? []).filter((v) => v.id !== current.id);
          setView(rest[0] ? { kind: 'vm', id: rest[0].id } : { kind: 'new' });
        }}
      />
    );
  else if (vms && !vms.length) body = <Welcome onNew={() => setView({ kind: 'new' })} />;
  else body = null;
  return (
    <div className="app">
      <aside className="sidebar">
        <div className="brand">
          <span className="logo" aria-hidden="true" />
          Hostbox <span className="version">{about?.version}</span>
        </div>
        <button className="new" onClick={() => setView({ kind: 'new' })}>
          + New VM
        </button>
        <div className="section-title">Library</div>
        <ul className="vm-list" aria-label="Virtual machines">
          {(vms ?? []).map((v) => (
            <li key={v.id} className={current?.id === v.id ? 'active' : ''} onClick={() => setView({ kind: 'vm', id: v.id })}>
              <div className="vm-name">{v.name}</div>
              <div className="vm-meta">
                <PowerChip power={v.power} /> {v.memoryMiB} MiB
              </div>
            </li>
          ))}
          {vms && !vms.length ? <li className="empty">No VMs yet</li> : null}
        </ul>
        <div className="spacer" />
        {about ? (
          <div className="data-dir" title={about.dataDir}>
            Library folder
            <br />
            <code>{about.dataDir}</code>
          </div>
        ) : null}
      </aside>
      <main className="main">{body}</main>
    </div>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
