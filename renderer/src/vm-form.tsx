// The New VM and Settings forms: one set of fields, checked by the host (which can see the files),
// with each problem shown under its field. Nothing is stored until the host accepts the whole form.
import { useState } from 'react';
import type { FieldError, SettingsField, VmCreateSettings, VmInfo, VmSettings } from '../../main/api-types.ts';
import { api } from './api-client.ts';
import { BrowseButton, type PickKind } from './file-picker.tsx';

type DiskChoice = 'none' | 'existing' | 'new';

/** One row of the port-forward table; the library keeps the forwards as lines of text (forward-spec.ts). */
interface ForwardRow {
  proto: 'tcp' | 'udp';
  hostAddress: string;
  hostPort: string;
  guestPort: string;
}

/** Rows from the stored lines: PROTOCOL:[ADDRESS:]HOSTPORT:GUESTPORT, the address maybe in [brackets]. A line the host would refuse keeps its text in the host port, so the error names it. */
function forwardRows(text: string): ForwardRow[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line) => {
      const m = /^(tcp|udp):(?:\[([^\]]*)\]:|([^:]*):(?=[^:]*:[^:]*$))?([^:]*):([^:]*)$/.exec(line);
      return m ? { proto: m[1] as ForwardRow['proto'], hostAddress: m[2] ?? m[3] ?? '', hostPort: m[4]!, guestPort: m[5]! } : { proto: 'tcp', hostAddress: '', hostPort: line, guestPort: '' };
    });
}

function forwardLines(rows: ForwardRow[]): string {
  return rows
    .filter((r) => r.hostAddress.trim() || r.hostPort.trim() || r.guestPort.trim())
    .map((r) => {
      const a = r.hostAddress.trim();
      return `${r.proto}:${a ? (a.includes(':') ? `[${a}]:` : `${a}:`) : ''}${r.hostPort.trim()}:${r.guestPort.trim()}`;
    })
    .join('\n');
}

interface FormState {
  name: string;
  memory: string;
  engine: VmSettings['engine'];
  boot: VmSettings['boot'];
  kernelPath: string;
  initrdPath: string;
  cmdline: string;
  disk: DiskChoice;
  hdaPath: string;
  newDiskMiB: string;
  cdromPath: string;
  serial: VmSettings['serial'];
  net: VmSettings['net'];
  mac: string;
  hostAccess: boolean;
  forwards: ForwardRow[];
  exposeForwards: boolean;
  folders: VmSettings['folders'];
}

function toState(s: VmSettings): FormState {
  return {
    name: s.name,
    memory: String(s.memoryMiB),
    engine: s.engine,
    boot: s.boot,
    kernelPath: s.kernelPath,
    initrdPath: s.initrdPath,
    cmdline: s.cmdline,
    disk: s.hdaPath ? 'existing' : 'none',
    hdaPath: s.hdaPath,
    newDiskMiB: '1024',
    cdromPath: s.cdromPath,
    serial: s.serial,
    net: s.net,
    mac: s.mac,
    hostAccess: s.hostAccess,
    forwards: forwardRows(s.forwards),
    exposeForwards: s.exposeForwards,
    folders: s.folders ?? [],
  };
}

function toSettings(f: FormState): VmCreateSettings {
  const num = (v: string): number => (/^\s*\d+\s*$/.test(v) ? Number(v) : NaN);
  return {
    name: f.name,
    memoryMiB: num(f.memory),
    engine: f.engine,
    boot: f.boot,
    kernelPath: f.kernelPath,
    initrdPath: f.initrdPath,
    cmdline: f.cmdline,
    hdaPath: f.disk === 'existing' ? f.hdaPath : '',
    cdromPath: f.cdromPath,
    serial: f.serial,
    net: f.net,
    mac: f.mac,
    hostAccess: f.hostAccess,
    forwards: forwardLines(f.forwards),
    exposeForwards: f.exposeForwards,
    folders: f.folders,
    ...(f.disk === 'new' ? { newDiskMiB: num(f.newDiskMiB) } : {}),
  };
}

/** 'view': a running VM's settings, shown but not editable (what can change while it runs is on its page). */
export function VmForm(props: { mode: 'create' | 'edit' | 'view'; initial: VmSettings; vmId?: string; onSaved(vm: VmInfo): void; onCancel?(): void }) {
  const viewOnly = props.mode === 'view';
  const [f, setF] = useState<FormState>(() => toState(props.initial));
  const [errors, setErrors] = useState<FieldError[]>([]);
  const [busy, setBusy] = useState(false);
  const set = <K extends keyof FormState>(k: K, v: FormState[K]): void => setF((old) => ({ ...old, [k]: v }));
  const errorFor = (...fields: SettingsField[]) => {
    const e = errors.find((x) => fields.includes(x.field));
    return e ? (
      <div className="field-error" role="alert">
        {e.message}
      </div>
    ) : null;
  };
  const submit = async (e: React.FormEvent): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    try {
      const settings = toSettings(f);
      const r = props.mode === 'create' ? await api.createVm(settings) : await api.updateVm(props.vmId!, settings);
      if (r.ok) {
        setErrors([]);
        props.onSaved(r.vm);
      } else setErrors(r.errors);
    } catch (err) {
      setErrors([{ field: 'form', message: (err as Error).message }]);
    } finally {
      setBusy(false);
    }
  };
  const field = (label: string, name: keyof FormState, opts: { placeholder?: string; hint?: string; numeric?: boolean; errorField?: SettingsField; browse?: PickKind } = {}) => {
    const input = (
      <input
        name={name}
        value={f[name] as string}
        placeholder={opts.placeholder}
        inputMode={opts.numeric ? 'numeric' : undefined}
        spellCheck={false}
        onChange={(e) => set(name, e.target.value as never)}
        aria-invalid={errors.some((x) => x.field === (opts.errorField ?? name)) || undefined}
      />
    );
    return (
      <div className="field">
        <label className="field">
          <span className="label">{label}</span>
          {opts.browse ? (
            <span className="with-browse">
              {input}
              {viewOnly ? null : <BrowseButton label={label.replace(/ \(.*\)$/, '').toLowerCase()} kind={opts.browse} value={f[name] as string} onPick={(p) => set(name, p as never)} />}
            </span>
          ) : (
            input
          )}
        </label>
        {opts.hint ? <span className="hint">{opts.hint}</span> : null}
        {errorFor(opts.errorField ?? (name as SettingsField))}
      </div>
    );
  };
  return (
    <form className="card vm-form" onSubmit={submit} noValidate>
      <h2>{props.mode === 'create' ? 'New virtual machine' : `Settings of ${props.initial.name}`}</h2>
      {viewOnly ? (
        <p className="banner-info" role="note">
          The VM is running: power it off to change these. The network cable can be plugged in or pulled on its page while it runs.
        </p>
      ) : null}
      <fieldset disabled={viewOnly} className="form-body">
      <fieldset>
        <legend>Machine</legend>
        {field('Name', 'name', { placeholder: 'e.g. Debian test guest' })}
        <div className="row">
          {field('Memory (MiB)', 'memory', { numeric: true, errorField: 'memoryMiB', hint: '4 to 3072' })}
          <label className="field">
            <span className="label">CPU engine</span>
            <select name="engine" value={f.engine} onChange={(e) => set('engine', e.target.value as FormState['engine'])}>
              <option value="auto">Automatic (binary translator)</option>
              <option value="bt">Binary translator</option>
              <option value="interpreter">Interpreter only</option>
              <option value="check">Check: translator verified against the interpreter (slow)</option>
            </select>
            {errorFor('engine')}
          </label>
        </div>
      </fieldset>
      <fieldset>
        <legend>Boot</legend>
        <div className="segmented" role="radiogroup" aria-label="Boot from">
          <label className={f.boot === 'kernel' ? 'on' : ''}>
            <input type="radio" name="boot" value="kernel" checked={f.boot === 'kernel'} onChange={() => set('boot', 'kernel')} /> Linux kernel
          </label>
          <label className={f.boot === 'disk' ? 'on' : ''}>
            <input type="radio" name="boot" value="disk" checked={f.boot === 'disk'} onChange={() => set('boot', 'disk')} /> Hard disk
          </label>
          <label className={f.boot === 'cdrom' ? 'on' : ''}>
            <input type="radio" name="boot" value="cdrom" checked={f.boot === 'cdrom'} onChange={() => set('boot', 'cdrom')} /> CD-ROM
          </label>
        </div>
        {errorFor('boot')}
        {f.boot === 'kernel' ? (
          <>
            {field('Kernel (bzImage or Multiboot)', 'kernelPath', { placeholder: '/boot/vmlinuz-6.1.0-686', browse: 'file' })}
            {field('Initial ramdisk (optional)', 'initrdPath', { placeholder: '/boot/initrd.img', browse: 'file' })}
            {field('Kernel command line', 'cmdline', { placeholder: 'console=ttyS0' })}
          </>
        ) : (
          <p className="hint">
            The VM starts its BIOS (SeaBIOS), which tries the {f.boot === 'cdrom' ? 'CD first, then the hard disk' : 'hard disk first, then the CD'}: to install a system, give a new disk and the installer's CD image and boot from the CD.
          </p>
        )}
      </fieldset>
      <fieldset>
        <legend>Storage</legend>
        <label className="field">
          <span className="label">Hard disk</span>
          <select name="disk" value={f.disk} onChange={(e) => set('disk', e.target.value as DiskChoice)}>
            <option value="none">None</option>
            <option value="existing">An existing raw image</option>
            {props.mode === 'create' ? <option value="new">A new blank disk</option> : null}
          </select>
        </label>
        {f.disk === 'existing' ? field('Disk image path', 'hdaPath', { placeholder: '/path/to/disk.img', browse: 'file' }) : null}
        {f.disk === 'new' ? field('New disk size (MiB)', 'newDiskMiB', { numeric: true, hint: 'Made in the VM’s folder; it takes host space only as the guest writes.' }) : null}
        {field('CD-ROM image (optional)', 'cdromPath', { placeholder: '/path/to/image.iso', browse: 'file' })}
      </fieldset>
      <fieldset>
        <legend>Host folders</legend>
        <p className="hint">
          Each folder is a FAT disk for the guest, on the next free IDE position. The guest sees the folder as it was at power-on; what it
          changes is written back to the folder when the guest powers itself off, at a suspend, and on “Sync to host now” on the VM’s page
          (unmount the disk in the guest first). A file changed on
          the host meanwhile is never overwritten: the guest's version is put beside it. Read-only: the guest's changes are dropped.
        </p>
        {f.folders.map((folder, i) => (
          <div className="row folder-row" key={i}>
            <label className="field">
              <span className="label">Folder {i + 1}</span>
              <span className="with-browse">
                <input
                  name={`folder-${i}`}
                  value={folder.path}
                  placeholder="/home/me/shared"
                  spellCheck={false}
                  onChange={(e) => set('folders', f.folders.map((x, k) => (k === i ? { ...x, path: e.target.value } : x)))}
                />
                {viewOnly ? null : <BrowseButton label={`folder ${i + 1}`} kind="folder" value={folder.path} onPick={(p) => set('folders', f.folders.map((x, k) => (k === i ? { ...x, path: p } : x)))} />}
              </span>
            </label>
            {api.pickFolder ? (
              <button
                type="button"
                name={`folder-${i}-choose`}
                onClick={() =>
                  void api.pickFolder!().then((path) => {
                    if (path) set('folders', f.folders.map((x, k) => (k === i ? { ...x, path } : x)));
                  }, () => {})
                }
              >
                Choose…
              </button>
            ) : null}
            <label className="check">
              <input type="checkbox" name={`folder-${i}-readonly`} checked={folder.readOnly} onChange={(e) => set('folders', f.folders.map((x, k) => (k === i ? { ...x, readOnly: e.target.checked } : x)))} />{' '}
              Read-only
            </label>
            <button type="button" onClick={() => set('folders', f.folders.filter((_, k) => k !== i))}>
              Remove
            </button>
          </div>
        ))}
        <button type="button" name="add-folder" onClick={() => set('folders', [...f.folders, { path: '', readOnly: false }])}>
          Add a host folder
        </button>
        {errorFor('folders')}
      </fieldset>
      <fieldset>
        <legend>Serial port</legend>
        <label className="field">
          <span className="label">COM1 goes to</span>
          <select name="serial" value={f.serial} onChange={(e) => set('serial', e.target.value as FormState['serial'])}>
            <option value="console">The console in this window</option>
            <option value="pty">A host pseudo-terminal too (attach with screen or minicom)</option>
          </select>
          {errorFor('serial')}
        </label>
      </fieldset>
      <fieldset>
        <legend>Network</legend>
        <label className="field">
          <span className="label">Network card</span>
          <select name="net" value={f.net} onChange={(e) => set('net', e.target.value as FormState['net'])}>
            <option value="user">AMD PCnet on NAT (the guest gets 10.0.2.15 by DHCP)</option>
            <option value="none">None</option>
          </select>
          {errorFor('net')}
        </label>
        {f.net === 'user' ? (
          <>
            {field('MAC address', 'mac', { placeholder: props.mode === 'create' ? 'made from the VM’s id' : '52:54:00:12:34:56' })}
            <label className="check">
              <input type="checkbox" name="hostAccess" checked={f.hostAccess} onChange={(e) => set('hostAccess', e.target.checked)} />
              Guest may reach services on this host (10.0.2.2 reaches this host’s 127.0.0.1)
            </label>
            <div className="field">
              <span className="label">Port forwards</span>
              {f.forwards.length ? (
                <table className="forwards" aria-invalid={errors.some((x) => x.field === 'forwards') || undefined}>
                  <thead>
                    <tr>
                      <th>Protocol</th>
                      <th>Host address</th>
                      <th>Host port</th>
                      <th>Guest port</th>
                      <th />
                    </tr>
                  </thead>
                  <tbody>
                    {f.forwards.map((r, i) => {
                      const edit = (change: Partial<ForwardRow>): void => set('forwards', f.forwards.map((x, k) => (k === i ? { ...x, ...change } : x)));
                      return (
                        <tr key={i}>
                          <td>
                            <select name={`forward-${i}-proto`} aria-label="Protocol" value={r.proto} onChange={(e) => edit({ proto: e.target.value as ForwardRow['proto'] })}>
                              <option value="tcp">TCP</option>
                              <option value="udp">UDP</option>
                            </select>
                          </td>
                          <td>
                            <input name={`forward-${i}-address`} aria-label="Host address" value={r.hostAddress} placeholder="127.0.0.1" spellCheck={false} onChange={(e) => edit({ hostAddress: e.target.value })} />
                          </td>
                          <td>
                            <input name={`forward-${i}-host-port`} aria-label="Host port" value={r.hostPort} inputMode="numeric" placeholder="8080" onChange={(e) => edit({ hostPort: e.target.value })} />
                          </td>
                          <td>
                            <input name={`forward-${i}-guest-port`} aria-label="Guest port" value={r.guestPort} inputMode="numeric" placeholder="80" onChange={(e) => edit({ guestPort: e.target.value })} />
                          </td>
                          <td>
                            <button type="button" onClick={() => set('forwards', f.forwards.filter((_, k) => k !== i))}>
                              Remove
                            </button>
                          </td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              ) : null}
              <button type="button" name="add-forward" onClick={() => set('forwards', [...f.forwards, { proto: 'tcp', hostAddress: '', hostPort: '', guestPort: '' }])}>
                Add a port forward
              </button>
              <span className="hint">With no host address the host side listens on 127.0.0.1; ::1 is IPv6 loopback.</span>
              {errorFor('forwards')}
            </div>
            <label className="check">
              <input type="checkbox" name="exposeForwards" checked={f.exposeForwards} onChange={(e) => set('exposeForwards', e.target.checked)} />
              Allow forwards on addresses other than loopback
            </label>
            {f.exposeForwards ? (
              <p className="warning" role="note">
                Other machines on your networks can then connect to the guest through those ports.
              </p>
            ) : null}
          </>
        ) : null}
      </fieldset>
      </fieldset>
      {errorFor('form')}
      <div className="actions">
        {props.onCancel ? (
          <button type="button" onClick={props.onCancel}>
            {viewOnly ? 'Close' : 'Cancel'}
          </button>
        ) : null}
        {viewOnly ? null : (
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Checking…' : props.mode === 'create' ? 'Create VM' : 'Save settings'}
          </button>
        )}
      </div>
    </form>
  );
}
