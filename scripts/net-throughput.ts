// The network figures of `npm run bench` (scripts/bench/net-throughput.ts) on their own, with the
// means to see where the time goes: TCP both ways through the PCnet and the NAT, and the guest's own
// loopback beside them, in MB/s.
// Usage: node --import tsx scripts/net-throughput.ts [MiB=8] [rounds=1]
//   (`npm run build` first; the guest from `npm run guest`.) With HOSTBOX_CPU_PROF=folder, the VMM
//   worker and the host thread of `hostbox run` are profiled (node --cpu-prof) into that folder, and
//   the guest kernel's symbols are saved beside them (kallsyms.txt) to name the translated blocks in
//   the VMM's profile (block_ADDRESS).
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { netThroughput } from './bench/net-throughput.ts';
import type { GuestSession } from '../tests/guest-session.ts';

const prof = process.env.HOSTBOX_CPU_PROF;

async function saveKallsyms(g: GuestSession, folder: string): Promise<void> {
  const parts: Buffer[] = [];
  const sink = createServer();
  const done = new Promise<void>((resolve) =>
    sink.on('connection', (s) => {
      s.on('data', (d: Buffer) => parts.push(d));
      s.on('end', () => resolve());
      s.setTimeout(3000, () => (s.destroy(), resolve()));
    }),
  );
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  await g.run(`nc 10.0.2.2 ${(sink.address() as { port: number }).port} < /proc/kallsyms`, 600_000);
  await done;
  sink.close();
  writeFileSync(join(folder, 'kallsyms.txt'), Buffer.concat(parts));
}

const r = await netThroughput({
  mib: Number(process.argv[2] ?? 8),
  rounds: Number(process.argv[3] ?? 1),
  timeoutMs: 3600_000,
  nodeArgs: prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [],
  before: prof ? (g) => saveKallsyms(g, prof) : undefined,
});
console.log(JSON.stringify(r));
