// Issue 15's figures: TCP throughput through the emulated PCnet and the user-mode NAT, on the Debian
// test guest run by `hostbox run` (the VMM in its own process, the NAT in the host's), in MB/s each
// way: the guest's busybox wget fetches from an HTTP server on the host's loopback (through 10.0.2.2,
// host access on), and the host fetches from the guest's busybox httpd through a port forward. Data
// is discarded at both ends. The reference beside them is the same wget fetching from the same httpd
// over the guest's loopback device (with eth0's MTU): both ends' work on the same emulated CPU, without the NIC and the
// NAT. Were the guest's CPU all that limits the NAT's figures, the loopback transfer would take about
// as long as the two NAT transfers together.

import { createServer, get } from 'node:http';
import { GuestSession, dhcpUp, freePort, guestManifest, netGuestArgs } from '../../tests/guest-session.ts';
import { median } from './measure.ts';

export interface NetThroughputResult {
  mib: number;
  hostToGuestMBps: number;
  guestToHostMBps: number;
  guestLoopbackMBps: number;
  /** Median over rounds of both NAT transfers' time over the loopback transfer's. */
  natOverLoopback: number;
  /** Each round's seconds. */
  rounds: { hostToGuestS: number; guestToHostS: number; guestLoopbackS: number }[];
}

/**
 * `nodeArgs` go to the node running `hostbox run` (--cpu-prof, say); `before` runs on the guest's
 * shell after the last round, before power-off.
 */
export async function netThroughput(opts: {
  rounds: number;
  timeoutMs: number;
  mib?: number;
  nodeArgs?: string[];
  before?: (g: GuestSession) => Promise<void>;
}): Promise<NetThroughputResult> {
  const mib = opts.mib ?? 8;
  const bytes = mib * 1024 * 1024;
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  const server = createServer((_req, res) => {
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
  const fwdPort = await freePort();
  const g = new GuestSession(netGuestArgs(['--host-access', '--forward', `tcp:${fwdPort}:8080`]), 'run', opts.nodeArgs ?? []);
  const rounds: NetThroughputResult['rounds'] = [];
  try {
    await g.waitFor(new RegExp(guestManifest().readyMarker), opts.timeoutMs);
    await g.waitFor(/\/ # /, 60_000);
    await dhcpUp(g);
    await g.run(`mkdir -p /tmp/www && dd if=/dev/zero of=/tmp/www/z.bin bs=1M count=${mib} 2>/dev/null && httpd -p 8080 -h /tmp/www`);
    // The reference's loopback device, given eth0's MTU so that the data crosses the guest's TCP in as
    // many segments.
    await g.run('ifconfig lo 127.0.0.1 mtu 1500 up');
    for (let round = 0; round < opts.rounds; round++) {
      const wget = await g.run(`wget -q -O /dev/null http://10.0.2.2:${httpPort}/z.bin && echo fetched`, opts.timeoutMs);
      if (!/fetched/.test(wget.text)) throw new Error(`wget failed: ${wget.text}`);
      const t1 = performance.now();
      const got = await new Promise<number>((resolve, reject) => {
        get({ host: '127.0.0.1', port: fwdPort, path: '/z.bin', timeout: opts.timeoutMs }, (res) => {
          let n = 0;
          res.on('data', (d: Buffer) => (n += d.length));
          res.on('end', () => resolve(n));
          res.on('error', reject);
        }).on('error', reject);
      });
      const guestToHostS = (performance.now() - t1) / 1000;
      if (got !== bytes) throw new Error(`the host got ${got} of ${bytes} bytes from the guest`);
      // The same wget from the same httpd over the guest's loopback device.
      const loop = await g.run('wget -q -O /dev/null http://127.0.0.1:8080/z.bin && echo fetched', opts.timeoutMs);
      if (!/fetched/.test(loop.text)) throw new Error(`wget over the guest's loopback failed: ${loop.text}`);
      rounds.push({ hostToGuestS: wget.seconds, guestToHostS, guestLoopbackS: loop.seconds });
      process.stderr.write(`net round ${round + 1}: host to guest ${wget.seconds.toFixed(1)} s, guest to host ${guestToHostS.toFixed(1)} s, guest loopback ${loop.seconds.toFixed(1)} s (${mib} MiB each)\n`);
    }
    await opts.before?.(g);
    await g.powerOff();
  } finally {
    g.kill();
    server.close();
  }
  const mb = bytes / 1e6;
  return {
    mib,
    hostToGuestMBps: mb / median(rounds.map((r) => r.hostToGuestS)),
    guestToHostMBps: mb / median(rounds.map((r) => r.guestToHostS)),
    guestLoopbackMBps: mb / median(rounds.map((r) => r.guestLoopbackS)),
    natOverLoopback: median(rounds.map((r) => (r.hostToGuestS + r.guestToHostS) / r.guestLoopbackS)),
    rounds,
  };
}
