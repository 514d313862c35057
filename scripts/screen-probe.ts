// Developer probe: boots a CD through SeaBIOS (as `hostbox run --cdrom` does, without a terminal) and
// writes what the screen shows every EVERY seconds: a PNG for a graphics mode, a text file for text.
// It is how graphical guests (Debian's GTK installer) were checked by hand.
//   npx esbuild scripts/screen-probe.ts --bundle --platform=node --format=esm --outfile=dist/screen-probe.mjs
//   CDROM=x.iso [MEM=MiB] [ENGINE=bt|interpreter|check] [EVERY=s] [OUT=/tmp/shot] [KEYS=s:hex,hex;...] node dist/screen-probe.mjs [seconds]
// KEYS sends raw scancode-set-1 bytes at the given second (1c,9c is Enter; 38,3e,be,b8 is Alt+F4).
import { closeSync, fstatSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { crc32, deflateSync } from 'node:zlib';
import { createMachine } from '../vmm/machine.ts';
import type { Screen } from '../vmm/machine-api.ts';

const seconds = Number(process.argv[2] ?? 60);
const out = process.env.OUT ?? '/tmp/shot';
const fd = openSync(process.env.CDROM ?? '', 'r');
const sectors = Math.floor(fstatSync(fd).size / 2048);
let screen: Screen | null = null;
const m = createMachine(
  {
    memoryMiB: Number(process.env.MEM ?? 512),
    engine: (process.env.ENGINE ?? 'bt') as 'bt',
    bios: new Uint8Array(readFileSync('/usr/share/seabios/bios.bin')),
    vgaBios: new Uint8Array(readFileSync('/usr/share/seabios/vgabios-isavga.bin')),
    cdrom: { id: 'cdrom', sectors, sectorSize: 2048, readOnly: true },
  },
  {
    block: (req) =>
      setImmediate(() => {
        const data = new Uint8Array(req.count * 2048);
        readSync(fd, data, 0, data.length, req.lba * 2048);
        m.blockReply({ tag: req.tag, ok: true, data });
      }),
    serialOut: (_p, b) => process.stdout.write(b),
    display: (s) => (screen = s),
    power: (e, d) => console.log(`[power] ${e} ${d ?? ''}`),
    log: (l, msg) => console.log(`[${l}] ${msg}`),
  },
  () => performance.now(),
  () => Date.now(),
);

function chunk(type: string, data: Uint8Array): Buffer {
  const b = Buffer.alloc(12 + data.length);
  b.writeUInt32BE(data.length, 0);
  b.write(type, 4, 'latin1');
  b.set(data, 8);
  b.writeUInt32BE(crc32(b.subarray(4, 8 + data.length)), 8 + data.length);
  return b;
}

function save(s: Screen, name: string): void {
  if (s.kind === 'text') {
    let t = '';
    for (let r = 0; r < s.rows; r++) t += Array.from(s.cells.subarray(r * s.cols, (r + 1) * s.cols), (c) => String.fromCharCode(c & 0xff || 32)).join('').trimEnd() + '\n';
    writeFileSync(`${name}.txt`, t);
    return;
  }
  const { width: w, height: h } = s;
  const raw = Buffer.alloc((w * 3 + 1) * h); // each row: filter type 0, then RGB
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = y * (w * 3 + 1) + 1 + x * 3;
      const src = s.format === 'rgba' ? s.pixels : s.palette;
      const i = s.format === 'rgba' ? (y * w + x) * 4 : s.pixels[y * w + x]! * 3;
      raw[o] = src[i]!;
      raw[o + 1] = src[i + 1]!;
      raw[o + 2] = src[i + 2]!;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bits per channel
  ihdr[9] = 2; // truecolour
  const signature = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
  writeFileSync(`${name}.png`, Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array())]));
}

const keys = (process.env.KEYS ?? '')
  .split(';')
  .filter(Boolean)
  .map((e) => {
    const [at, codes] = e.split(':');
    return { at: Number(at), codes: (codes ?? '').split(',').map((x) => parseInt(x, 16)), sent: false };
  });
const t0 = performance.now();
const every = Number(process.env.EVERY ?? 30) * 1000;
let nextShot = 0;
let shot = 0;
while (performance.now() - t0 < seconds * 1000) {
  const st = m.runSlice(10);
  if (st === 'off') break;
  if (st === 'halted') await new Promise((r) => setTimeout(r, Math.min(10, m.idleMs())));
  else await new Promise((r) => setImmediate(r));
  const t = performance.now() - t0;
  for (const k of keys) {
    if (k.sent || t < k.at * 1000) continue;
    k.sent = true;
    for (const c of k.codes) m.keyboard([c]);
    console.log(`[keys at ${k.at} s]`);
  }
  if (t >= nextShot && screen) {
    save(screen, `${out}-${String(shot).padStart(3, '0')}`);
    console.log(`[shot ${shot++} at ${(t / 1000).toFixed(0)} s, ${(m.stats().instructions / 1e6).toFixed(0)} M instructions]`);
    nextShot += every;
  }
}
if (screen) save(screen, `${out}-end`);
closeSync(fd);
console.log(`instructions: ${m.stats().instructions}`);
