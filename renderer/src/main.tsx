// Hostbox's window: the VM library on the left, and on the right the selected VM (its controls and
// consoles), its settings, the New VM form, or the first-run page. What is shown is kept in the
// address's fragment (#vm/<id>, #settings/<id>, #new), so a reload comes back to it; the fragment,
// not the query, because the desktop window's IPC check compares the page address without it.
import { StrictMode, useEffect, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import type { BootSource, VmActivity, VmCreateSettings, VmInfo } from '../../main/api-types.ts';
import { api } from './api-client.ts';
import { VmForm } from './vm-form.tsx';
import { VmView } from './vm-view.tsx';
import { PowerChip } from './power-chip.tsx';
import { FirstRun } from './first-run.tsx';
import { Thumbnail } from './thumbnail.tsx';
import './styles.css';

type View = { kind: 'vm'; id: string } | { kind: 'settings'; id: string } | { kind: 'new'; boot?: BootSource } | { kind: 'home' };

const byCreation = (a: VmInfo, b: VmInfo): number => a.createdAt.localeCompare(b.createdAt) || a.name.localeCompare(b.name);

function viewFromHash(hash: string): View {
  const [kind, id] = hash.replace(/^#/, '').split('/', 2).map((x) => decodeURIComponent(x ?? ''));
  if ((kind === 'vm' || kind === 'settings') && id) return { kind, id };
  if (kind === 'new') return { kind: 'new' };
  return { kind: 'home' };
}

function hashOf(v: View): string {
  return v.kind === 'vm' || v.kind === 'settings' ? `#${v.kind}/${encodeURIComponent(v.id)}` : v.kind === 'new' ? '#new' : '';
}

/** A VM whose screen is worth a thumbnail: running, halted, or (once there is such a state) suspended. */
const showsScreen = (v: VmInfo): boolean => v.power !== 'off' && v.power !== 'crashed';

function App() {
  const [vms, setVms] = useState<VmInfo[] | null>(null);
  const [view, setViewState] = useState<View>(() => viewFromHash(location.hash));
  const [activity, setActivity] = useState<Record<string, VmActivity>>({});
  const [about, setAbout] = useState<{ version: string; dataDir: string } | null>(null);
  const [defaults, setDefaults] = useState<VmCreateSettings | null>(null);
  const [fatal, setFatal] = useState<string | null>(null);
  const listRef = useRef<HTMLUListElement>(null);
  const setView = (v: View): void => {
    setViewState(v);
    const h = hashOf(v);
    if (h !== location.hash) history.pushState(null, '', h || location.pathname + location.search);
  };
  useEffect(() => {
    const onPop = (): void => setViewState(viewFromHash(location.hash));
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  useEffect(() => {
    void api.version().then(setAbout, (e: Error) => setFatal(e.message));
    void api.defaultSettings().then(setDefaults, () => {});
    void api.listVms().then(
      (list) => setVms([...list].sort(byCreation)),
      (e: Error) => setFatal(e.message),
    );
    return api.onEvent((e) => {
      if (e.type === 'vm') {
        setVms((list) => [...(list ?? []).filter((v) => v.id !== e.vm.id), e.vm].sort(byCreation));
        // The next power-on starts its activity line afresh.
        if (e.vm.power === 'off' || e.vm.power === 'crashed')
          setActivity((a) => {
            const { [e.vm.id]: _gone, ...rest } = a;
            return rest;
          });
      }
      else if (e.type === 'vm-deleted') setVms((list) => (list ?? []).filter((v) => v.id !== e.id));
      else if (e.type === 'activity') setActivity((a) => ({ ...a, [e.id]: e.activity }));
    });
  }, []);
  // An address naming a VM that is not (or no longer) in the library lands on the first-run page.
  const current = view.kind === 'vm' || view.kind === 'settings' ? (vms?.find((v) => v.id === view.id) ?? null) : null;
  useEffect(() => {
    if (vms && (view.kind === 'vm' || view.kind === 'settings') && !current) setView({ kind: 'home' });
  });
  useEffect(() => {
    document.title = current ? `${current.name} – Hostbox` : 'Hostbox';
  }, [current?.name]);
  const onListKey = (e: React.KeyboardEvent): void => {
    const items = [...(listRef.current?.querySelectorAll<HTMLButtonElement>('button.vm-item') ?? [])];
    const at = items.indexOf(document.activeElement as HTMLButtonElement);
    const to = e.key === 'ArrowDown' ? at + 1 : e.key === 'ArrowUp' ? at - 1 : e.key === 'Home' ? 0 : e.key === 'End' ? items.length - 1 : null;
    if (to === null || !items.length) return;
    e.preventDefault();
    items[Math.max(0, Math.min(items.length - 1, to))]!.focus();
  };
  let body: React.ReactNode;
  if (fatal) body = <div className="banner-error">{fatal}</div>;
  else if (view.kind === 'new' && defaults)
    body = (
      <VmForm
        key={`new-${view.boot ?? ''}`}
        mode="create"
        initial={view.boot ? { ...defaults, boot: view.boot } : defaults}
        onSaved={(vm) => {
          setVms((list) => [...(list ?? []).filter((v) => v.id !== vm.id), vm].sort(byCreation));
          setView({ kind: 'vm', id: vm.id });
        }}
        onCancel={() => setView({ kind: 'home' })}
      />
    );
  else if (view.kind === 'settings' && current)
    body = (
      <VmForm
        key={`edit-${current.id}-${current.power === 'off' || current.power === 'crashed' ? 'edit' : 'view'}`}
        mode={current.power === 'off' || current.power === 'crashed' ? 'edit' : 'view'}
        vmId={current.id}
        initial={current}
        onSaved={(vm) => setView({ kind: 'vm', id: vm.id })}
        onCancel={() => setView({ kind: 'vm', id: current.id })}
      />
    );
  else if (view.kind === 'vm' && current)
    body = (
      <VmView
        key={current.id}
        vm={current}
        activity={activity[current.id] ?? null}
        onEdit={() => setView({ kind: 'settings', id: current.id })}
        onDeleted={() => setView({ kind: 'home' })}
      />
    );
  else if (vms && view.kind === 'home') body = <FirstRun vms={vms} onOpen={(id) => setView({ kind: 'vm', id })} onNew={(boot) => setView({ kind: 'new', boot })} />;
  else body = null;
  return (
    <div className="app">
      <aside className="sidebar">
        <a className="brand" href="#" onClick={(e) => (e.preventDefault(), setView({ kind: 'home' }))}>
          <span className="logo" aria-hidden="true" />
          Hostbox <span className="version">{about?.version}</span>
        </a>
        <button className="new" onClick={() => setView({ kind: 'new' })}>
          + New VM
        </button>
        <h2 className="section-title" id="library-title">
          Library
        </h2>
        <nav aria-labelledby="library-title">
          <ul className="vm-list" ref={listRef} onKeyDown={onListKey}>
            {(vms ?? []).map((v) => (
              <li key={v.id} className={current?.id === v.id ? 'active' : ''}>
                <button className="vm-item" aria-current={current?.id === v.id ? 'page' : undefined} onClick={() => setView({ kind: 'vm', id: v.id })}>
                  <span className="vm-text">
                    <span className="vm-name">{v.name}</span>
                    <span className="vm-meta">
                      <PowerChip power={v.power} /> {v.memoryMiB} MiB
                    </span>
                  </span>
                  {showsScreen(v) ? <Thumbnail vmId={v.id} name={v.name} /> : null}
                </button>
              </li>
            ))}
            {vms && !vms.length ? <li className="empty">No VMs yet</li> : null}
          </ul>
        </nav>
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
