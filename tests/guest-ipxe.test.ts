// iPXE (Debian's ipxe package, ipxe.lkrn), network boot firmware nobody here wrote, the way a user
// would start it: from an ISOLINUX CD through SeaBIOS, under the translator. Its real-mode prefix
// switches between real and protected mode around every BIOS call (with FXSAVE each time, whatever
// CPUID says), its own pcnet32 driver finds the PCnet-PCI II, and it asks for an address by DHCP,
// answered by the NAT the VMM process uses (main/backends/nat). iPXE prints to the VGA screen only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMachine, type PcMachine } from '../vmm/machine.ts';
import type { PowerEvent, TextScreen } from '../vmm/machine-api.ts';
import { DEFAULT_BIOS } from '../main/vmm-host.ts';
import { Nat } from '../main/backends/nat/nat.ts';
import { skipOrFailInCi } from './prerequisites.ts';
import { screenText, sliceAndYield } from './text-screen.ts';

const IPXE = '/usr/lib/ipxe/ipxe.lkrn';
const ISOLINUX = { bin: '/usr/lib/ISOLINUX/isolinux.bin', ldlinux: '/usr/lib/syslinux/modules/bios/ldlinux.c32' };
const MAC = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

const skip = skipOrFailInCi(
  !existsSync(IPXE)
    ? 'ipxe is not installed (apt-get install ipxe)'
    : !existsSync(ISOLINUX.bin) || !existsSync(ISOLINUX.ldlinux) || spawnSync('sh', ['-c', 'command -v xorriso']).status !== 0
      ? 'xorriso, isolinux or syslinux-common is not installed'
      : !existsSync(DEFAULT_BIOS.bios)
        ? 'SeaBIOS is not installed (apt-get install seabios)'
        : false,
);

test('iPXE from an ISOLINUX CD finds the PCnet card with its own driver and gets 10.0.2.15 by DHCP from the NAT', { skip, timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hostbox-ipxe-'));
  const nat: { n: Nat | null } = { n: null };
  try {
    const tree = join(dir, 'tree');
    mkdirSync(join(tree, 'isolinux'), { recursive: true });
    copyFileSync(ISOLINUX.bin, join(tree, 'isolinux', 'isolinux.bin'));
    copyFileSync(ISOLINUX.ldlinux, join(tree, 'isolinux', 'ldlinux.c32'));
    copyFileSync(IPXE, join(tree, 'ipxe.lkrn'));
    writeFileSync(join(tree, 'isolinux', 'isolinux.cfg'), 'DEFAULT ipxe\nPROMPT 0\nTIMEOUT 0\nLABEL ipxe\n  KERNEL /ipxe.lkrn\n');
    const isoPath = join(dir, 'ipxe.iso');
    const mk = spawnSync('xorriso', ['-as', 'mkisofs', '-quiet', '-o', isoPath, '-b', 'isolinux/isolinux.bin', '-c', 'isolinux/boot.cat', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', tree], { encoding: 'utf8' });
    assert.equal(mk.status, 0, `xorriso: ${mk.stderr}`);
    const iso = new Uint8Array(readFileSync(isoPath));

    let screen: TextScreen | null = null;
    const power: PowerEvent[] = [];
    const m = createMachine(
      {
        memoryMiB: 64,
        engine: 'auto',
        bios: new Uint8Array(readFileSync(DEFAULT_BIOS.bios)),
        vgaBios: new Uint8Array(readFileSync(DEFAULT_BIOS.vgaBios)),
        cdrom: { id: 'cdrom', sectors: iso.length / 2048, sectorSize: 2048, readOnly: true },
        nic: { mac: MAC },
      },
      {
        serialOut: () => {},
        display: (s) => void (s.kind === 'text' && (screen = s)),
        block: (req) => queueMicrotask(() => m.blockReply({ tag: req.tag, ok: true, data: iso.slice(req.lba * 2048, (req.lba + req.count) * 2048) })),
        net: (frame) => nat.n!.fromGuest(frame),
        power: (e) => void power.push(e),
        log: () => {},
      },
      () => performance.now(),
    ) as PcMachine;
    nat.n = new Nat({ guestMac: new Uint8Array(MAC), hostAccess: false, toGuest: (f) => m.netIn(f) });
    await nat.n.start();

    const text = (): string => (screen ? screenText(screen).join('\n') : '');
    const deadline = performance.now() + 240_000;
    const until = async (re: RegExp): Promise<void> => {
      while (!re.test(text())) {
        assert.ok(performance.now() < deadline, `never showed ${re}; screen:\n${text()}\npower events: ${power.join(', ')}`);
        assert.ok(!power.includes('halted') && !power.includes('triple-fault'), `the guest stopped (${power.join(', ')}); screen:\n${text()}`);
        await sliceAndYield(m);
      }
    };
    await until(/iPXE initialising devices\.\.\.ok/);
    await until(/net0: 52:54:00:12:34:56 using pcnet32 on 0000:00:03\.0/);
    await until(/Link:up/);
    // DHCP through the NAT: iPXE prints the address and the gateway it was given.
    await until(/net0: 10\.0\.2\.15\/255\.255\.255\.0 gw 10\.0\.2\.2/);
    assert.ok(nat.n.counters.framesFromGuest > 0 && nat.n.counters.framesToGuest > 0);
  } finally {
    nat.n?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
