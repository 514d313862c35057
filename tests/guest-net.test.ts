// Issue 15 in the Debian guest: Linux's own pcnet32 driver brings up the emulated PCnet-PCI II,
// busybox udhcpc gets 10.0.2.15 from the NAT's DHCP server, the guest pings the gateway (with a
// ping that IP fragments each way), fetches 32 MiB from an HTTP server this test runs on the host's
// loopback (through 10.0.2.2, the setting "guest may reach services on this host" being on), and
// the host moves 32 MiB each way through a port forward: from busybox httpd in the guest, and into
// busybox nc in the guest. UDP echoes go both ways (the guest's udp-echo, scripts/guest-tools/, to an
// echo server on the host; the host to the guest's udp-echo through forwards on 127.0.0.1 and ::1), and
// a TCP forward on [::1] reaches the guest's httpd. All traffic stays on the host's loopback; every
// transfer is checked by md5. HOSTBOX_NET_TEST_MIB sets the size (32 by default); the times are printed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, get } from 'node:http';
import { connect } from 'node:net';
import { GuestSession, dhcpUp, freePort, guestManifest, guestSkipReason, md5From, netGuestArgs } from './guest-session.ts';

const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');
const MIB = Number(process.env.HOSTBOX_NET_TEST_MIB ?? 32);
const SIZE = MIB * 1024 * 1024;
/** A transfer may take this long: the guest's CPU is emulated, and this machine may be shared. */
const TRANSFER_MS = 40 * 60_000;

/** Sends `text` from a new socket to host:port and resolves with the answer, or rejects after 20 s. */
async function udpAsk(family: 'udp4' | 'udp6', host: string, port: number, text: string): Promise<string> {
  const c: UdpSocket = createSocket(family);
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no UDP answer from ${host}:${port}`)), 20_000);
      c.on('message', (m) => (clearTimeout(timer), resolve(m.toString())));
      c.on('error', (e) => (clearTimeout(timer), reject(e)));
      c.send(text, port, host);
    });
  } finally {
    c.close();
  }
}

const rate = (seconds: number): string => `${MIB} MiB in ${seconds.toFixed(1)} s (${(SIZE / 1e6 / seconds).toFixed(2)} MB/s)`;

test(`pcnet32 + udhcpc + ${MIB} MiB each way: wget from the host, httpd and nc behind port forwards`, { skip: guestSkipReason(), timeout: 150 * 60_000 }, async () => {
  const manifest = guestManifest();
  const body = randomBytes(SIZE);
  const server = createServer((req, res) => {
    if (req.url === '/file.bin') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      res.end(body);
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const httpPort = (server.address() as { port: number }).port;
  const httpdPort = await freePort();
  const ncPort = await freePort();
  const httpd6Port = await freePort('::1');
  const udpPort = await freePort();
  const udp6Port = await freePort('::1');
  // The host's UDP echo server, which the guest reaches through 10.0.2.2.
  const echo = createSocket('udp4');
  const echoedFrom: string[] = [];
  echo.on('message', (m, from) => (echoedFrom.push(from.address), echo.send(m, from.port, from.address)));
  await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
  const g = new GuestSession(
    netGuestArgs([
      '--host-access',
      '--forward', `tcp:${httpdPort}:8080`,
      '--forward', `tcp:${ncPort}:8081`,
      '--forward', `tcp:[::1]:${httpd6Port}:8080`,
      '--forward', `udp:${udpPort}:7777`,
      '--forward', `udp:[::1]:${udp6Port}:7777`,
    ]),
  );
  try {
    // Generous: on a loaded shared machine the boot alone can take many minutes.
    await g.waitFor(new RegExp(manifest.readyMarker), 35 * 60_000);
    await g.waitFor(/\/ # /, 60_000);
    const dmesg = await g.run('dmesg | grep -i pcnet');
    assert.match(dmesg.text, /PCnet\/PCI II 79C970A/);
    assert.match(dmesg.text, /52:54:00:12:34:56/);
    const dhcp = await dhcpUp(g);
    assert.match(dhcp, /inet addr:10\.0\.2\.15\s+Bcast:\S+\s+Mask:255\.255\.255\.0/, dhcp);
    const ping = await g.run('ping -c 2 10.0.2.2');
    assert.match(ping.text, /2 packets received/);
    // 3,000 bytes of ICMP: the guest sends it in fragments, the NAT reassembles it and fragments its answer.
    const bigPing = await g.run('ping -c 1 -s 3000 10.0.2.2');
    assert.match(bigPing.text, /1 packets received/, bigPing.text);

    // UDP, guest to host: one datagram to the host's echo server and its answer.
    const udpOut = await g.run(`echo hostbox-udp-out | udp-echo ${(echo.address() as { port: number }).port} 10.0.2.2`, 60_000);
    assert.match(udpOut.text, /^hostbox-udp-out\s*$/m, udpOut.text);
    assert.deepEqual(echoedFrom, ['127.0.0.1'], 'the guest datagram left from the host loopback');
    // UDP, host to guest through forwards on IPv4 and IPv6 loopback: the guest's udp-echo answers.
    await g.run('udp-echo 7777 & sleep 1');
    assert.equal(await udpAsk('udp4', '127.0.0.1', udpPort, 'hostbox-udp-in-4'), 'hostbox-udp-in-4');
    assert.equal(await udpAsk('udp6', '::1', udp6Port, 'hostbox-udp-in-6'), 'hostbox-udp-in-6');

    // Host to guest through the NAT: the guest fetches from the host's loopback.
    const fetched = await g.run(`wget -q -O - http://10.0.2.2:${httpPort}/file.bin | md5sum`, TRANSFER_MS);
    // Kernel messages can share the console with the answer: take the checksum from its own line.
    assert.equal(md5From(fetched.text), md5(body), `wget through the NAT: ${fetched.text}`);
    console.log(`guest fetched from the host (wget | md5sum): ${rate(fetched.seconds)}`);

    // Guest to host through a port forward: the host fetches a file from busybox httpd.
    await g.run(`mkdir -p /tmp/www && dd if=/dev/urandom of=/tmp/www/g.bin bs=1M count=${MIB} 2>/dev/null && httpd -p 8080 -h /tmp/www`, TRANSFER_MS);
    const guestSum = md5From((await g.run('md5sum /tmp/www/g.bin', TRANSFER_MS)).text);
    const t0 = performance.now();
    const got = await new Promise<Buffer>((resolve, reject) => {
      get({ host: '127.0.0.1', port: httpdPort, path: '/g.bin', timeout: TRANSFER_MS }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve(Buffer.concat(parts)));
        res.on('error', reject);
      }).on('error', reject);
    });
    const outSeconds = (performance.now() - t0) / 1000;
    assert.equal(got.length, SIZE);
    assert.equal(md5(got), guestSum, 'the host read the guest file through the port forward');
    console.log(`host fetched from guest httpd through a forward: ${rate(outSeconds)}`);
    // The same httpd through a forward bound to IPv6 loopback.
    await g.run('echo hostbox-over-ipv6 > /tmp/www/v6.txt');
    const v6 = await fetch(`http://[::1]:${httpd6Port}/v6.txt`);
    assert.equal(await v6.text(), 'hostbox-over-ipv6\n');
    await g.run('rm /tmp/www/g.bin');

    // Host to guest through a port forward: the host writes into busybox nc, which the guest checksums.
    // (stdin from /dev/null: nc then ends when the host closes, whichever busybox nc this is.)
    // Started in the background; the command returns once port 8081 (1F91h) listens (state 0A), on
    // IPv4 or on a dual-stack IPv6 socket.
    await g.run("(nc -l -p 8081 </dev/null | md5sum) & while ! grep -qs ':1F91 [0-9A-F]*:0000 0A' /proc/net/tcp /proc/net/tcp6; do sleep 1; done");
    const t1 = performance.now();
    const s = connect({ host: '127.0.0.1', port: ncPort }, () => s.end(body));
    let sendError: Error | null = null;
    s.on('error', (e) => (sendError = e));
    s.resume();
    // The answer comes after the shell's prompt, on the same line.
    const pushed = await g.waitFor(/([0-9a-f]{32}) {2}-\s*$/m, TRANSFER_MS);
    const inSeconds = (pushed.time - t1) / 1000;
    assert.equal(sendError, null);
    assert.equal(pushed.match[1], md5(body), 'the guest read what the host sent through the port forward');
    console.log(`host sent to guest nc through a forward (nc | md5sum): ${rate(inSeconds)}`);
    assert.equal(await g.powerOff(), 0);
  } finally {
    g.kill();
    server.close();
    echo.close();
  }
});
