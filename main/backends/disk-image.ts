// Raw disk and CD images as block back ends: sector ranges read and written with positioned I/O on
// an open file descriptor. The VMM never touches the file; it sends block requests.
//
// The I/O is asynchronous (libuv's thread pool), so a slow disk never stalls the host's event loop,
// where the web server, the consoles and every other VM are served. Requests on one disk run one
// after another in arrival order, so a read after a write sees it and replies come back in order;
// different disks proceed in parallel. CD images are opened read-only; a writable image is first
// checked (image-policy.ts) and locked (image-lock.ts).

import { close, closeSync, constants, fstatSync, fsync, openSync, read, write } from 'node:fs';
import type { BlockReply, BlockRequest, DiskInfo } from '../../vmm/machine-api.ts';
import { ImageLock } from './image-lock.ts';
import { imageRefusal, type ImageScope } from './image-policy.ts';

export interface DiskImageOptions {
  /** Who holds the lock, as a person would recognise it ('VM "Debian"', 'hostbox run'). */
  owner?: string;
  scope?: ImageScope;
}

function positioned(op: typeof read | typeof write, fd: number, buf: Uint8Array, pos: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const step = (): void => {
      (op as (fd: number, b: Uint8Array, o: number, l: number, p: number, cb: (e: Error | null, n: number) => void) => void)(fd, buf, done, buf.length - done, pos + done, (e, n) => {
        if (e) return reject(e);
        // A short transfer continues where it stopped; none at all means the file shrank under us.
        if (n === 0) return reject(new Error('the image file ended early (was it truncated?)'));
        done += n;
        if (done < buf.length) step();
        else resolve();
      });
    };
    step();
  });
}

export class DiskImage {
  private readonly fd: number;
  readonly info: DiskInfo;
  private readonly lock: ImageLock | null = null;
  /** The end of this disk's request chain: each request starts when the one before it is done. */
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    readonly path: string,
    kind: 'hda' | 'cdrom',
    opts: DiskImageOptions = {},
  ) {
    const readOnly = kind === 'cdrom';
    const what = kind === 'cdrom' ? 'CD image' : 'disk image';
    const refusal = imageRefusal(path, !readOnly, opts.scope ?? {});
    if (refusal) throw new Error(`${kind}: ${refusal}`);
    try {
      // O_NONBLOCK: a FIFO swapped in after the check above must not hang the open.
      this.fd = openSync(path, (readOnly ? constants.O_RDONLY : constants.O_RDWR) | constants.O_NONBLOCK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new Error(
        code === 'ENOENT' ? `${kind} image ${path} does not exist` : code === 'EACCES' ? `${kind} image ${path} cannot be opened (permission denied)` : `${kind} image ${path}: ${(e as Error).message}`,
      );
    }
    try {
      const st = fstatSync(this.fd);
      if (!st.isFile()) throw new Error(`${kind} image ${path} is not a regular file`);
      const sectorSize = kind === 'cdrom' ? 2048 : 512;
      if (st.size === 0) throw new Error(`${kind} image ${path} is empty (0 bytes): a disk holds at least one 512-byte sector`);
      if (st.size % 512 !== 0) throw new Error(`${kind} image ${path} has ${st.size} bytes, which is not a whole number of 512-byte sectors`);
      if (!readOnly) this.lock = ImageLock.acquire(path, opts.owner ?? `Hostbox (pid ${process.pid})`, what);
      this.info = { id: kind, sectors: Math.floor(st.size / sectorSize), sectorSize, readOnly };
    } catch (e) {
      closeSync(this.fd);
      throw e;
    }
  }

  /** Carries out one request after those before it; never rejects: a failure is a reply with ok false. */
  handle(req: BlockRequest): Promise<BlockReply> {
    const next = this.tail.then(() => this.run(req));
    this.tail = next;
    return next;
  }

  private async run(req: BlockRequest): Promise<BlockReply> {
    if (this.closed) return { tag: req.tag, ok: false, error: 'the disk is closed' };
    const ss = this.info.sectorSize;
    try {
      if (req.op === 'flush') {
        if (!this.info.readOnly) await new Promise<void>((res, rej) => fsync(this.fd, (e) => (e ? rej(e) : res())));
        return { tag: req.tag, ok: true };
      }
      if (req.op !== 'read' && req.op !== 'write') return { tag: req.tag, ok: false, error: `unknown block operation ${String(req.op)}` };
      if (!Number.isInteger(req.lba) || !Number.isInteger(req.count) || req.lba < 0 || req.count < 0 || req.lba + req.count > this.info.sectors)
        return { tag: req.tag, ok: false, error: `sectors ${req.lba}+${req.count} are outside the image (${this.info.sectors} sectors)` };
      const len = req.count * ss;
      if (req.op === 'read') {
        const buf = new Uint8Array(len);
        if (len) await positioned(read, this.fd, buf, req.lba * ss);
        return { tag: req.tag, ok: true, data: buf };
      }
      if (this.info.readOnly) return { tag: req.tag, ok: false, error: 'the image is read-only' };
      if (!(req.data instanceof Uint8Array) || req.data.length !== len) return { tag: req.tag, ok: false, error: 'write data does not match the sector count' };
      if (len) await positioned(write, this.fd, req.data, req.lba * ss);
      return { tag: req.tag, ok: true };
    } catch (e) {
      return { tag: req.tag, ok: false, error: `${this.path}: ${(e as Error).message}` };
    }
  }

  /** Waits for the requests under way, then closes the file and releases the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail.catch(() => {});
    await new Promise<void>((res) => close(this.fd, () => res()));
    this.lock?.release();
  }
}
