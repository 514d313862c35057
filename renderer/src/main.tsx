// Hostbox's window: the running VMs on the left, the selected VM's consoles on the right, and a
// form to boot a new one. (The persistent VM library and settings arrive with the SQLite library.)
import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import type { TextScreen } from '../../vmm/machine-api.ts';
import type { VmInfo } from '../../main/api-types.ts';
import { api } from './api-client.ts';
import { SerialConsole } from './serial-console.tsx';
import { TextScreenView } from './text-screen.tsx';
import './styles.css';

function StateChip(props: { power: VmInfo['power'] }) {
  return <span className={`chip chip-${props.power}`}>{props.power}</span>;
}

function NewVmForm(props: { onStarted(vm: VmInfo): void }) {
  const [name, setName] = useState('Debian test guest');
  const [memory, setMemory] = useState('256');
  const [kernel, setKernel] = useState('');
  const [initrd, setInitrd] = useState('');
  const [cmdline, setCmdline] = useState('console=ttyS0');
  const [error, setError] = useState<{ field: string; message: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: React.FormEvent): Promise<void> => {
    e.preventDefault();
    const mem = Number(memory);
    if (!name.trim()) return setError({ field: 'name', message: 'Give the VM a name.' });
    if (!/^\d+$/.test(memory) || mem < 4 || mem > 3072) return setError({ field: 'memory', message: 'Memory must be 4 to 3072 MiB.' });
    if (!kernel.trim()) return setError({ field: 'kernel', message: 'Give the path of a Linux bzImage.' });
    setBusy(true);
    setError(null);
    try {
      props.onStarted(await api.startVm({ name, memoryMiB: mem, kernelPath: kernel.trim(), initrdPath: initrd.trim() || undefined, cmdline }));
    } catch (err) {
      const message = (err as Error).message;
      const field = /^kernel|bzImage|kernel /.test(message) ? 'kernel' : /initrd/.test(message) ? 'initrd' : /memory/.test(message) ? 'memory' : 'form';
      setError({ field, message });
    } finally {
      setBusy(false);
    }
  };
  const fieldError = (f: string) => (error?.field === f ? <div className="field-error">{error.message}</div> : null);
  return (
    <form className="card new-vm" onSubmit={submit}>
      <h2>New virtual machine</h2>
      <label>
        Name
        <input name="name" value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      {fieldError('name')}
      <label>
        Memory (MiB)
        <input name="memory" value={memory} onChange={(e) => setMemory(e.target.value)} inputMode="numeric" />
      </label>
      {fieldError('memory')}
      <label>
        Kernel (bzImage path on this computer)
        <input name="kernel" value={kernel} onChange={(e) => setKernel(e.target.value)} placeholder="/path/to/vmlinuz" />
      </label>
      {fieldError('kernel')}
      <label>
        Initial ramdisk (optional)
        <input name="initrd" value={initrd} onChange={(e) => setInitrd(e.target.value)} placeholder="/path/to/initrd.img" />
      </label>
      {fieldError('initrd')}
      <label>
        Kernel command line
        <input name="cmdline" value={cmdline} onChange={(e) => setCmdline(e.target.value)} />
      </label>
      {fieldError('form')}
      <button type="submit" className="primary" disabled={busy}>
        {busy ? 'Starting…' : 'Power on'}
      </button>
    </form>
  );
}

function App() {
  const [vms, setVms] = useState<VmInfo[]>([]);
  const [selected, setSelected] = useState<string | null>(null);
  const [screens, setScreens] = useState<Record<string, TextScreen>>({});
  const [version, setVersion] = useState('');
  useEffect(() => {
    void api.version().then((v) => setVersion(v.version));
    void api.listVms().then(setVms);
    return api.onEvent((e) => {
      if (e.type === 'vm') setVms((list) => [...list.filter((v) => v.id !== e.vm.id), e.vm].sort((a, b) => a.startedAt.localeCompare(b.startedAt)));
      else if (e.type === 'screen') setScreens((s) => ({ ...s, [e.id]: e.screen }));
    });
  }, []);
  const vm = vms.find((v) => v.id === selected) ?? null;
  return (
    <div className="app">
      <aside className="sidebar">
        <div className="brand">
          Hostbox <span className="version">{version}</span>
        </div>
        <button className="new" onClick={() => setSelected(null)}>
          + New VM
        </button>
        <ul className="vm-list">
          {vms.map((v) => (
            <li key={v.id} className={v.id === selected ? 'active' : ''} onClick={() => setSelected(v.id)}>
              <div className="vm-name">{v.name}</div>
              <div className="vm-meta">
                <StateChip power={v.power} /> {v.memoryMiB} MiB
              </div>
            </li>
          ))}
        </ul>
      </aside>
      <main className="main">
        {vm ? (
          <section className="vm-view">
            <header className="vm-header">
              <h1>{vm.name}</h1>
              <StateChip power={vm.power} />
              <div className="spacer" />
              <button onClick={() => void api.resetVm(vm.id)} disabled={vm.power !== 'running'}>
                Reset
              </button>
              <button className="danger" onClick={() => void api.stopVm(vm.id)} disabled={vm.power !== 'running'}>
                Power off
              </button>
            </header>
            {vm.error ? <div className="banner-error">{vm.error}</div> : null}
            <div className="consoles">
              <div className="pane">
                <h3>Serial console (ttyS0)</h3>
                <SerialConsole vmId={vm.id} />
              </div>
              <div className="pane">
                <h3>Screen (VGA text)</h3>
                <TextScreenView screen={screens[vm.id] ?? null} onKeys={(c) => void api.sendKeys(vm.id, c)} />
              </div>
            </div>
          </section>
        ) : (
          <NewVmForm
            onStarted={(v) => {
              setVms((list) => [...list.filter((x) => x.id !== v.id), v]);
              setSelected(v.id);
            }}
          />
        )}
      </main>
    </div>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
