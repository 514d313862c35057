// Suspend and its saved state on a VM's page: the Suspend button of a running VM, the note a
// suspended VM shows (when, how big; Power on continues it), and "Discard saved state", which asks
// first because the guest's unsaved work goes with it.
import { useState } from 'react';
import type { VmInfo } from '../../main/api-types.ts';
import { api } from './api-client.ts';

type Act = (f: () => Promise<unknown>) => Promise<void>;

export function SuspendButton(props: { vm: VmInfo; busy: boolean; act: Act }) {
  const { vm } = props;
  const saving = vm.power === 'suspending';
  return (
    <button onClick={() => void props.act(() => api.suspendVm(vm.id))} disabled={props.busy || saving || (vm.power !== 'running' && vm.power !== 'halted')} title="Save the VM's whole state in its folder and stop it; Power on continues it">
      {saving ? 'Suspending…' : 'Suspend'}
    </button>
  );
}

function size(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

export function SuspendedNote(props: { vm: VmInfo }) {
  const s = props.vm.suspended;
  if (props.vm.power !== 'suspended' || !s) return null;
  return (
    <div className="banner-info" data-testid="suspended-note">
      Suspended {new Date(s.at).toLocaleString()} (saved state {size(s.bytes)}). <strong>Power on</strong> continues it where it stopped.
    </div>
  );
}

export function DiscardStateButton(props: { vm: VmInfo; busy: boolean; act: Act }) {
  const [asking, setAsking] = useState(false);
  const { vm } = props;
  return (
    <>
      <button className="danger" onClick={() => setAsking(true)} disabled={props.busy}>
        Discard saved state…
      </button>
      {asking ? (
        <div className="modal-backdrop">
          <div className="modal card" role="dialog" aria-modal="true" aria-labelledby="discard-title">
            <h2 id="discard-title">Discard the saved state of {vm.name}?</h2>
            <p>
              The VM will be powered off, as if its power had been cut when it was suspended: whatever its programs had not written to its disks is lost. Its disks
              stay as they are.
            </p>
            <div className="actions">
              <button onClick={() => setAsking(false)} autoFocus>
                Cancel
              </button>
              <button
                className="danger solid"
                disabled={props.busy}
                onClick={() =>
                  void props.act(async () => {
                    setAsking(false);
                    await api.discardState(vm.id);
                  })
                }
              >
                Discard saved state
              </button>
            </div>
          </div>
        </div>
      ) : null}
    </>
  );
}
