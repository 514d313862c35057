// Serial throughput through the host API (main/api.ts): a stand-in VMM pours guest serial output
// into a running VM's session as fast as the host takes it, a subscriber encodes every event as the
// web server would, and the script reports bytes/s and the worst event-loop delay seen meanwhile.
// Usage: node --import tsx scripts/serial-throughput.ts [MiB=4] [bytes-per-message=1] [seconds=10]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createHostApi } from '../main/api.ts';
import { encodeWire } from '../main/server.ts';
import { fakeBzImage } from '../vmm/boot/fake-bzimage.ts';
import type { VmHandlers } from '../main/vmm-host.ts';

const mib = Number(process.argv[2] ?? 4);
const perMessage = Number(process.argv[3] ?? 1);
const maxSeconds = Number(process.argv[4] ?? 10);
const total = Math.floor(mib * 1024 * 1024);

const dataDir = mkdtempSync(join(tmpdir(), 'hostbox-serial-bench-'));
const kernel = join(dataDir, 'vmlinuz');
writeFileSync(kernel, fakeBzImage());
let handlers: VmHandlers | null = null;
const host = createHostApi({
  dataDir,
  launcher: async (_spec, h) => {
    handlers = h;
    return { sendSerial() {}, sendKeys() {}, reset() {}, async stop() {} };
  },
});
let encoded = 0;
let received = 0;
host.subscribe((e) => {
  encoded += encodeWire({ event: e }).length;
  if (e.type === 'serial') received += e.data.length;
});
const r = await host.api.createVm({ ...(await host.api.defaultSettings()), name: 'bench', kernelPath: kernel });
if (!r.ok) throw new Error(JSON.stringify(r.errors));
await host.api.powerOn(r.vm.id);

// Printable text with line ends, as a chatty guest's console would carry.
const line = new TextEncoder().encode('[    1.234567] hostbox serial throughput line 0123456789abcdef\r\n');
const message = new Uint8Array(perMessage);
for (let i = 0; i < perMessage; i++) message[i] = line[i % line.length]!;
const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();
const t0 = performance.now();
let sent = 0;
// One burst of up to 64 KiB per event-loop turn, as a VMM slice would deliver it.
while (sent < total && performance.now() - t0 < maxSeconds * 1000) {
  const burstEnd = Math.min(total, sent + 64 * 1024);
  while (sent < burstEnd) {
    handlers!.serial(0, message);
    sent += perMessage;
  }
  await new Promise((res) => setImmediate(res));
}
await new Promise((res) => setTimeout(res, 50));
const seconds = (performance.now() - t0) / 1000;
delay.disable();
const log = await host.api.serialLog(r.vm.id);
console.log(
  JSON.stringify({
    bytesPerMessage: perMessage,
    sentMiB: +(sent / 1048576).toFixed(2),
    seconds: +seconds.toFixed(2),
    bytesPerSecond: Math.round(sent / seconds),
    receivedMatchesSent: received === sent,
    historyEnd: log.end,
    wireBytes: encoded,
    maxEventLoopDelayMs: +(delay.max / 1e6).toFixed(1),
  }),
);
await host.close();
rmSync(dataDir, { recursive: true, force: true });
