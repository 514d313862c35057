// A qcow2 image as a VM's hard disk (a block back end, like disk-image.ts for raw images): checked
// by the image policy (the image and every backing file), locked while the VM runs, its requests
// carried out one after another by the qcow2 engine, flushes making the metadata durable.

import type { BlockReply, BlockRequest, DiskInfo } from '../../../vmm/machine-api.ts';
import type { DiskImageOptions } from '../disk-image.ts';
import { ImageLock } from '../image-lock.ts';
import { imageRefusal } from '../image-policy.ts';
import { Qcow2Image } from './qcow2.ts';

/**
 * How soon after a write the metadata goes to disk even without a flush from the guest: guests that
 * never flush (a BIOS, DOS) would otherwise keep every new cluster only in memory until power-off.
 */
const LAZY_FLUSH_MS = 1000;

export class Qcow2Disk {
  private closed = false;
  private lazyFlush: NodeJS.Timeout | null = null;

  private constructor(
    readonly path: string,
    private readonly image: Qcow2Image,
    private readonly lock: ImageLock,
    readonly info: DiskInfo,
  ) {}

  static async open(path: string, kind: 'hda', opts: DiskImageOptions = {}): Promise<Qcow2Disk> {
    const scope = opts.scope ?? {};
    const refusal = imageRefusal(path, true, scope);
    if (refusal) throw new Error(`${kind}: ${refusal}`);
    const lock = ImageLock.acquire(path, opts.owner ?? `Hostbox (pid ${process.pid})`, 'disk image');
    try {
      const image = await Qcow2Image.open(path, { writable: true, checkBacking: (p) => imageRefusal(p, false, scope) });
      return new Qcow2Disk(path, image, lock, { id: kind, sectors: Math.floor(image.size / 512), sectorSize: 512, readOnly: false });
    } catch (e) {
      lock.release();
      throw new Error(`${kind} image ${(e as Error).message}`);
    }
  }

  /** Never rejects: a failure is a reply with ok false (the guest sees an I/O error). */
  async handle(req: BlockRequest): Promise<BlockReply> {
    if (this.closed) return { tag: req.tag, ok: false, error: 'the disk is closed' };
    try {
      if (req.op === 'flush') {
        await this.image.flush();
        return { tag: req.tag, ok: true };
      }
      if (req.op !== 'read' && req.op !== 'write') return { tag: req.tag, ok: false, error: `unknown block operation ${String(req.op)}` };
      if (!Number.isInteger(req.lba) || !Number.isInteger(req.count) || req.lba < 0 || req.count < 0 || req.lba + req.count > this.info.sectors)
        return { tag: req.tag, ok: false, error: `sectors ${req.lba}+${req.count} are outside the image (${this.info.sectors} sectors)` };
      const len = req.count * 512;
      if (req.op === 'read') {
        const buf = new Uint8Array(len);
        if (len) await this.image.readAt(buf, req.lba * 512);
        return { tag: req.tag, ok: true, data: buf };
      }
      if (!(req.data instanceof Uint8Array) || req.data.length !== len) return { tag: req.tag, ok: false, error: 'write data does not match the sector count' };
      if (len) await this.image.writeAt(req.data, req.lba * 512);
      this.lazyFlush ??= setTimeout(() => {
        this.lazyFlush = null;
        if (!this.closed) void this.image.flush().catch(() => {});
      }, LAZY_FLUSH_MS).unref();
      return { tag: req.tag, ok: true };
    } catch (e) {
      return { tag: req.tag, ok: false, error: (e as Error).message };
    }
  }

  /** Waits for the requests under way, writes the metadata, closes the chain and releases the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.lazyFlush) clearTimeout(this.lazyFlush);
    try {
      await this.image.close();
    } finally {
      this.lock.release();
    }
  }
}
