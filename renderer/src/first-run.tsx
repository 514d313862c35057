// The page a new user meets (an empty library, or the app opened with no VM chosen): what Hostbox
// is, and three ways to a running VM: the sample Debian guest, an installer CD image, a Linux kernel.
import { useEffect, useState } from 'react';
import type { BootSource, SampleVmName, VmInfo } from '../../main/api-types.ts';
import { api } from './api-client.ts';

const SAMPLE_VM_NAME: SampleVmName = 'Debian sample';

export function FirstRun(props: { vms: VmInfo[]; onOpen(id: string): void; onNew(boot: BootSource): void }) {
  const sample = props.vms.find((v) => v.name === SAMPLE_VM_NAME) ?? null;
  const [guest, setGuest] = useState<boolean | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    void api.sampleGuest().then((g) => setGuest(g !== null), () => setGuest(false));
  }, []);
  const bootSample = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      let vm = sample;
      if (!vm) {
        const r = await api.createSampleVm();
        if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('; '));
        vm = r.vm;
      }
      props.onOpen(vm.id);
      if (vm.power === 'off' || vm.power === 'crashed') await api.powerOn(vm.id);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const canSample = sample !== null || guest === true;
  return (
    <section className="first-run" aria-labelledby="first-run-title">
      <h1 id="first-run-title">Welcome to Hostbox</h1>
      <p className="lead">
        Hostbox runs virtual PCs on this computer: each VM boots a real operating system on an emulated x86 processor, with its own memory,
        disks, screen and serial console. Your VMs live in the library on the left, where you can power them on, watch them work, shut them
        down and change their settings.
      </p>
      <div className="choices">
        <div className="card choice">
          <h2>Try the sample VM</h2>
          <p>
            {sample ? `“${SAMPLE_VM_NAME}” is in your library: a` : 'A'} small Debian system (Linux 6.1 and a BusyBox shell) that boots in a minute or two.
          </p>
          <button className="primary" onClick={() => void bootSample()} disabled={busy || !canSample}>
            {busy ? 'Starting…' : 'Boot the sample VM'}
          </button>
          {guest === false && !sample ? (
            <p className="hint">
              The sample needs the Debian test guest, which is not built yet: run <code>npm run guest</code>.
            </p>
          ) : null}
          {error ? (
            <p className="field-error" role="alert">
              {error}
            </p>
          ) : null}
        </div>
        <div className="card choice">
          <h2>Install from a CD image</h2>
          <p>Give the VM an installer’s ISO file and a new blank disk; it boots the CD through its BIOS.</p>
          <button onClick={() => props.onNew('cdrom')}>Create a VM from an ISO</button>
        </div>
        <div className="card choice">
          <h2>Boot a Linux kernel</h2>
          <p>Start a kernel (bzImage) and an initial ramdisk straight from files, as QEMU’s -kernel does.</p>
          <button onClick={() => props.onNew('kernel')}>Create a VM from a kernel</button>
        </div>
      </div>
    </section>
  );
}
