// TCP throughput through the emulated PCnet and the user-mode NAT, on the Debian test guest: the
// guest's busybox wget fetches from an HTTP server on the host's loopback (host to guest, through
// 10.0.2.2 with host access on), and the host fetches from the guest's busybox httpd through a
// port forward (guest to host). Data is discarded at both ends (no checksum in the guest, whose CPU
// is emulated), so the figures are the network path's. Reports MB/s each way.
// Usage: node --import tsx scripts/net-throughput.ts [MiB=8] [rounds=1]
//   (`npm run build` first; the guest from `npm run guest`.) With HOSTBOX_CPU_PROF=folder, the VMM
//   worker and the host thread of `hostbox run` are profiled (node --cpu-prof) into that folder.
import { writeFileSync } from 'node:fs';
import { createServer, get } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { join } from 'node:path';
import { GuestSession, dhcpUp, guestManifest, netGuestArgs } from '../tests/guest-session.ts';

const mib = Number(process.argv[2] ?? 8);
const rounds = Number(process.argv[3] ?? 1);
const bytes = mib * 1024 * 1024;
const chunk = Buffer.alloc(64 * 1024, 0x5a);
const server = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes });
  let left = bytes;
  const more = (): void => {
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      left -= n;
      if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void res.once('drain', more);
    }
    res.end();
  };
  more();
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const httpPort = (server.address() as { port: number }).port;
const fwdPort = 20000 + Math.floor(Math.random() * 20000);

const g = new GuestSession(netGuestArgs(['--host-access', '--forward', `tcp:${fwdPort}:8080`]), 'run', process.env.HOSTBOX_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.HOSTBOX_CPU_PROF}`] : []);
try {
  await g.waitFor(new RegExp(guestManifest().readyMarker), 35 * 60_000);
  await g.waitFor(/\/ # /, 60_000);
  await dhcpUp(g);
  await g.run(`mkdir -p /tmp/www && dd if=/dev/zero of=/tmp/www/z.bin bs=1M count=${mib} 2>/dev/null && httpd -p 8080 -h /tmp/www`);
  for (let round = 0; round < rounds; round++) {
    const t0 = performance.now();
    const wget = await g.run(`wget -q -O /dev/null http://10.0.2.2:${httpPort}/z.bin && echo fetched`, 3600_000);
    const inSeconds = (performance.now() - t0) / 1000;
    if (!/fetched/.test(wget.text)) throw new Error(`wget failed: ${wget.text}`);
    const t1 = performance.now();
    const got = await new Promise<number>((resolve, reject) => {
      get({ host: '127.0.0.1', port: fwdPort, path: '/z.bin', timeout: 600_000 }, (res) => {
        let n = 0;
        res.on('data', (d: Buffer) => (n += d.length));
        res.on('end', () => resolve(n));
        res.on('error', reject);
      }).on('error', reject);
    });
    const outSeconds = (performance.now() - t1) / 1000;
    if (got !== bytes) throw new Error(`the host got ${got} of ${bytes} bytes from the guest`);
    console.log(JSON.stringify({ MiB: mib, hostToGuestMBps: +(bytes / 1e6 / inSeconds).toFixed(2), guestToHostMBps: +(bytes / 1e6 / outSeconds).toFixed(2) }));
  }
  if (process.env.HOSTBOX_CPU_PROF) {
    // The guest kernel's symbols, to name the translated blocks in the VMM's profile (block_ADDRESS).
    const parts: Buffer[] = [];
    const sink = createTcpServer();
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
    writeFileSync(join(process.env.HOSTBOX_CPU_PROF, 'kallsyms.txt'), Buffer.concat(parts));
  }
  await g.powerOff();
} finally {
  g.kill();
  server.close();
}
