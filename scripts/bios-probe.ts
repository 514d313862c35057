// Developer probe: boots a BIOS (SeaBIOS from Debian by default) with no disks for a few seconds
// and prints the firmware's debug-port trace and the VGA text screen at the end.
//   node --import tsx scripts/bios-probe.ts [seconds] [bios.bin] [vgabios.bin]
// ENGINE=bt|check|interpreter (default interpreter) and MEM=MiB (default 64) choose the machine.
import { readFileSync } from 'node:fs';
import { createMachine } from '../vmm/machine.ts';
import type { TextScreen } from '../vmm/machine-api.ts';

const seconds = Number(process.argv[2] ?? 10);
const bios = new Uint8Array(readFileSync(process.argv[3] ?? '/usr/share/seabios/bios.bin'));
const vga = new Uint8Array(readFileSync(process.argv[4] ?? '/usr/share/seabios/vgabios-isavga.bin'));
let screen: TextScreen | null = null;
// HDA=disk.img and CDROM=image.iso attach images, served from memory.
const images: Record<string, { bytes: Uint8Array; sector: number }> = {};
if (process.env.HDA) images.hda = { bytes: new Uint8Array(readFileSync(process.env.HDA)), sector: 512 };
if (process.env.CDROM) images.cdrom = { bytes: new Uint8Array(readFileSync(process.env.CDROM)), sector: 2048 };
const info = (id: string) => (images[id] ? { id, sectors: images[id].bytes.length / images[id].sector, sectorSize: images[id].sector as 512 | 2048, readOnly: id === 'cdrom' } : undefined);
const m = createMachine(
  { memoryMiB: Number(process.env.MEM ?? 64), engine: (process.env.ENGINE ?? 'interpreter') as 'interpreter', bios, vgaBios: vga, hda: info('hda'), cdrom: info('cdrom') },
  {
    block: (req) => (process.env.DUMP_VRAM && console.log("[block]", req.op, req.disk, req.lba, req.count), 0) ||
      setImmediate(() => {
        const img = images[req.disk]!;
        const off = req.lba * img.sector;
        if (req.op === 'read') m.blockReply({ tag: req.tag, ok: true, data: img.bytes.slice(off, off + req.count * img.sector) });
        else {
          if (req.op === 'write') img.bytes.set(req.data!, off);
          m.blockReply({ tag: req.tag, ok: true });
        }
      }),
    serialOut: (_p, b) => process.stdout.write(b),
    display: (s) => { if (s.kind !== 'text') return; screen = s; if (process.env.DUMP_VRAM) console.log("[display]", s.cursor.row, s.cursor.col); },
    power: (e, d) => console.log(`[power] ${e} ${d ?? ''}`),
    log: (l, msg) => console.log(`[${l}] ${msg}`),
  },
  () => performance.now(),
  () => Date.now(),
);
const end = performance.now() + seconds * 1000;
while (performance.now() < end) {
  const st = m.runSlice(10);
  if (st === 'off') break;
  if (st === 'halted') await new Promise((r) => setTimeout(r, Math.min(10, m.idleMs())));
  else await new Promise((r) => setImmediate(r));
}
console.log(`instructions: ${m.stats().instructions}`);
const s = screen as TextScreen | null;
if (s) {
  for (let r = 0; r < s.rows; r++) {
    let line = '';
    for (let c = 0; c < s.cols; c++) line += String.fromCharCode(s.cells[r * s.cols + c]! & 0xff || 32);
    console.log('|' + line.trimEnd());
  }
}
if (process.env.DUMP_VRAM) {
  const pm = m as unknown as { devices: { vga: { vram: Uint8Array; crtc: Uint8Array } } };
  const v = pm.devices.vga.vram;
  let t = '';
  for (let i = 0; i < 4000; i++) t += String.fromCharCode(v[i] || 32);
  console.log(JSON.stringify(t.replace(/ +/g, ' ')));
  console.log('crtc', Array.from(pm.devices.vga.crtc.subarray(0, 0x19)).map((x) => x.toString(16)).join(' '));
}
if (process.env.DUMP_VRAM) {
  const ts = (m as unknown as { devices: { vga: { textScreen(): TextScreen | null } } }).devices.vga.textScreen();
  if (ts) for (let r = 0; r < 10; r++) console.log('>' + Array.from(ts.cells.subarray(r * ts.cols, (r + 1) * ts.cols), (c) => String.fromCharCode(c & 0xff || 32)).join('').trimEnd());
}
if (process.env.DUMP_VRAM) {
  const v = (m as unknown as { devices: { vga: { dirty: boolean; refresh: { armed: boolean; deadline?: number } } } }).devices.vga;
  const c = (m as unknown as { clock: { now(): number; nextDeadline(): number } }).clock;
  console.log('dirty', v.dirty, 'armed', v.refresh.armed, v.refresh, 'now', c.now(), 'next', c.nextDeadline());
}
if (process.env.IDE_TRACE) {
  const ch = (m as unknown as { devices: { ide: { channels: unknown[] } } }).devices.ide.channels[0] as Record<string, unknown>;
  console.log('ide primary', { pos: ch.pos, end: ch.end, intrq: ch.intrq, lineHigh: ch.lineHigh, drives: (ch.drives as { status: number }[]).map((d) => d?.status) });
  const cpu = (m as unknown as { cpu: { eip: number; sel: Uint16Array; halted: boolean; getFlags(): number } }).cpu;
  console.log('cpu', cpu.sel[1]!.toString(16), cpu.eip.toString(16), 'halted', cpu.halted, 'flags', cpu.getFlags().toString(16));
}
{
  // Where the BIOS put the RSDP (the ACPI spec's scan of 0xE0000-0xFFFFF on 16-byte boundaries).
  const mem = (m as unknown as { mem: { read8(a: number): number; read32(a: number): number } }).mem;
  for (let a = 0xe0000; a < 0x100000; a += 16) {
    let sig = '';
    for (let i = 0; i < 8; i++) sig += String.fromCharCode(mem.read8(a + i));
    if (sig === 'RSD PTR ') {
      const rsdt = mem.read32(a + 16) >>> 0;
      let t = '';
      for (let i = 0; i < 4; i++) t += String.fromCharCode(mem.read8(rsdt + i));
      console.log(`RSDP at 0x${a.toString(16)}, RSDT at 0x${rsdt.toString(16)} (${t})`);
    }
  }
}
