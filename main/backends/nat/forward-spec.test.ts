import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatForward, macForVm, parseForward, parseMac } from './forward-spec.ts';

test('port forwards in Hostbox and QEMU spellings; loopback unless written out', () => {
  assert.deepEqual(parseForward('tcp:8080:80'), { proto: 'tcp', hostAddress: '127.0.0.1', hostPort: 8080, guestPort: 80, exposed: false });
  assert.deepEqual(parseForward('udp:[::1]:5353:53'), { proto: 'udp', hostAddress: '::1', hostPort: 5353, guestPort: 53, exposed: false });
  assert.deepEqual(parseForward('tcp:127.0.0.1:8080-:80'), { proto: 'tcp', hostAddress: '127.0.0.1', hostPort: 8080, guestPort: 80, exposed: false });
  assert.deepEqual(parseForward('tcp::2222-:22'), { proto: 'tcp', hostAddress: '127.0.0.1', hostPort: 2222, guestPort: 22, exposed: false });
  assert.equal(parseForward('tcp:0.0.0.0:8080:80').exposed, true);
  assert.equal(formatForward(parseForward('tcp:[::1]:1:2')), 'tcp:[::1]:1:2');
  assert.throws(() => parseForward('sctp:1:2'), /tcp: or udp:/);
  assert.throws(() => parseForward('tcp:70000:80'), /host port "70000"/);
  assert.throws(() => parseForward('tcp:example.com:1:2'), /not an IP address/);
  assert.throws(() => parseForward('tcp:1'), /is not tcp:HOSTPORT:GUESTPORT/);
});

test('a VM id always gives the same locally administered unicast MAC in 52:54:00', () => {
  const a = macForVm('0b6f7c2e-1');
  assert.equal(a, macForVm('0b6f7c2e-1'));
  assert.notEqual(a, macForVm('0b6f7c2e-2'));
  assert.match(a, /^52:54:00(:[0-9a-f]{2}){3}$/);
  assert.deepEqual(parseMac('52:54:00:AB:cd:01'), [0x52, 0x54, 0, 0xab, 0xcd, 1]);
  assert.throws(() => parseMac('01:00:5e:00:00:01'), /multicast/);
  assert.throws(() => parseMac('52:54:00'), /six hex bytes/);
});
