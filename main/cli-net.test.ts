import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRunArgs } from './cli.ts';

test('network flags: user NAT by default, --net none, --host-access, repeated --forward and QEMU --hostfwd, --mac', () => {
  const plain = parseRunArgs(['--kernel', '/k']);
  assert.deepEqual(plain.net, { mode: 'user', mac: '52:54:00:12:34:56', hostAccess: false, forwards: [] });
  const full = parseRunArgs(['--kernel', '/k', '--host-access', '--forward', 'tcp:8080:80', '--forward=udp:[::1]:5353:53', '--hostfwd', 'tcp:127.0.0.1:2222-:22', '--mac', '52:54:00:aa:bb:cc']);
  assert.equal(full.net?.hostAccess, true);
  assert.equal(full.net?.mac, '52:54:00:aa:bb:cc');
  assert.deepEqual(
    full.net?.forwards.map((f) => [f.proto, f.hostAddress, f.hostPort, f.guestPort]),
    [
      ['tcp', '127.0.0.1', 8080, 80],
      ['udp', '::1', 5353, 53],
      ['tcp', '127.0.0.1', 2222, 22],
    ],
  );
  assert.equal(parseRunArgs(['--kernel', '/k', '--net', 'none']).net?.mode, 'none');
  assert.throws(() => parseRunArgs(['--net', 'bridge']), /--net bridge is not a network mode/);
  assert.throws(() => parseRunArgs(['--forward', 'tcp:99999:1']), /host port "99999"/);
  assert.throws(() => parseRunArgs(['--mac', '01:02:03:04:05:06']), /multicast/);
  assert.throws(() => parseRunArgs(['--net', 'none', '--forward', 'tcp:1:2']), /need a network/);
});
