// Raw disk and CD images as block back ends: sector ranges read and written with positioned I/O on
// an open file descriptor. The VMM never touches the file; it sends block requests.

import { closeSync, fstatSync, openSync, readSync, writeSync, fsyncSync } from 'node:fs';
import type { BlockReply, BlockRequest, DiskInfo } from '../../vmm/machine-api.ts';

export class DiskImage {
  private readonly fd: number;
  readonly info: DiskInfo;

  constructor(
    readonly path: string,
    kind: 'hda' | 'cdrom',
  ) {
    const readOnly = kind === 'cdrom';
    try {
      this.fd = openSync(path, readOnly ? 'r' : 'r+');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new Error(
        code === 'ENOENT' ? `${kind} image ${path} does not exist` : code === 'EACCES' ? `${kind} image ${path} cannot be opened (permission denied)` : `${kind} image ${path}: ${(e as Error).message}`,
      );
    }
    const st = fstatSync(this.fd);
    if (!st.isFile()) {
      closeSync(this.fd);
      throw new Error(`${kind} image ${path} is not a regular file`);
    }
    const sectorSize = kind === 'cdrom' ? 2048 : 512;
    if (st.size === 0 || st.size % 512 !== 0) {
      closeSync(this.fd);
      throw new Error(`${kind} image ${path} has ${st.size} bytes, which is not a whole number of 512-byte sectors`);
    }
    this.info = { id: kind, sectors: Math.floor(st.size / sectorSize), sectorSize, readOnly };
  }

  handle(req: BlockRequest): BlockReply {
    const ss = this.info.sectorSize;
    if (req.op === 'flush') {
      if (!this.info.readOnly) fsyncSync(this.fd);
      return { tag: req.tag, ok: true };
    }
    if (!Number.isInteger(req.lba) || !Number.isInteger(req.count) || req.lba < 0 || req.count < 0 || req.lba + req.count > this.info.sectors)
      return { tag: req.tag, ok: false, error: `sectors ${req.lba}+${req.count} are outside the image (${this.info.sectors} sectors)` };
    const len = req.count * ss;
    if (req.op === 'read') {
      const buf = new Uint8Array(len);
      readSync(this.fd, buf, 0, len, req.lba * ss);
      return { tag: req.tag, ok: true, data: buf };
    }
    if (this.info.readOnly) return { tag: req.tag, ok: false, error: 'the image is read-only' };
    if (!req.data || req.data.length !== len) return { tag: req.tag, ok: false, error: 'write data does not match the sector count' };
    writeSync(this.fd, req.data, 0, len, req.lba * ss);
    return { tag: req.tag, ok: true };
  }

  close(): void {
    closeSync(this.fd);
  }
}
