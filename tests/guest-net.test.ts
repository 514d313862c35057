// Issue 15 in the Debian guest: Linux's own pcnet32 driver brings up the emulated PCnet-PCI II,
// busybox udhcpc gets 10.0.2.15 from the NAT's DHCP server, the guest pings the gateway, fetches
// a file from an HTTP server this test runs on the host's loopback (through 10.0.2.2, the setting
// "guest may reach services on this host" being on), and the host fetches a file from busybox
// httpd in the guest through a port forward. All traffic stays on 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, get } from 'node:http';
import { join } from 'node:path';
import { GuestSession, guestDir, guestManifest, guestSkipReason, md5From } from './guest-session.ts';

const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

test('pcnet32 + udhcpc + wget from the host + httpd behind a port forward', { skip: guestSkipReason(), timeout: 45 * 60_000 }, async () => {
  const manifest = guestManifest();
  const body = randomBytes(1024 * 1024);
  const server = createServer((req, res) => {
    if (req.url === '/file.bin') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      res.end(body);
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const httpPort = (server.address() as { port: number }).port;
  const fwdPort = await freePort();
  const g = new GuestSession([
    '--memory', '256',
    '--kernel', join(guestDir, 'vmlinuz'),
    '--initrd', join(guestDir, 'initrd.img'),
    '--append', 'console=ttyS0 hostbox.modules=pcnet32',
    '--host-access',
    '--forward', `tcp:${fwdPort}:8080`,
  ]);
  try {
    // Generous: on a loaded shared machine the boot alone can take many minutes.
    await g.waitFor(new RegExp(manifest.readyMarker), 35 * 60_000);
    await g.waitFor(/\/ # /, 60_000);
    const dmesg = await g.run('dmesg | grep -i pcnet');
    assert.match(dmesg.text, /PCnet\/PCI II 79C970A/);
    assert.match(dmesg.text, /52:54:00:12:34:56/);
    await g.run("printf '#!/bin/sh\\n[ \"$1\" = bound ] && ifconfig $interface $ip netmask $subnet && route add default gw $router\\nexit 0\\n' >/tmp/dhcp.sh; chmod +x /tmp/dhcp.sh");
    await g.run('ifconfig eth0 up');
    const dhcp = await g.run('udhcpc -i eth0 -s /tmp/dhcp.sh -q -n -t 5 -T 3 2>&1; ifconfig eth0');
    assert.match(dhcp.text, /inet addr:10\.0\.2\.15\s+Bcast:\S+\s+Mask:255\.255\.255\.0/, dhcp.text);
    const ping = await g.run('ping -c 2 10.0.2.2');
    assert.match(ping.text, /2 packets received/);
    const fetched = await g.run(`wget -q -O - http://10.0.2.2:${httpPort}/file.bin | md5sum`);
    // Kernel messages can share the console with the answer: take the checksum from its own line.
    assert.equal(md5From(fetched.text), md5(body), `wget through the NAT: ${fetched.text}`);
    console.log(`guest fetched 1 MiB from the host in ${fetched.seconds.toFixed(1)} s`);

    await g.run('mkdir -p /tmp/www && dd if=/dev/urandom of=/tmp/www/g.bin bs=1024 count=512 2>/dev/null && httpd -p 8080 -h /tmp/www');
    const guestSum = md5From((await g.run('md5sum /tmp/www/g.bin')).text);
    const got = await new Promise<Buffer>((resolve, reject) => {
      get({ host: '127.0.0.1', port: fwdPort, path: '/g.bin', timeout: 120_000 }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve(Buffer.concat(parts)));
        res.on('error', reject);
      }).on('error', reject);
    });
    assert.equal(got.length, 512 * 1024);
    assert.equal(md5(got), guestSum, 'the host read the guest file through the port forward');
    assert.equal(await g.powerOff(), 0);
  } finally {
    g.kill();
    server.close();
  }
});
