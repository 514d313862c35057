// The SCSI side of an ATAPI CD-ROM drive: the 12-byte packets a driver sends after the PACKET
// command, and the sense data that explains a failure. The ATA side (PACKET, byte counts,
// interrupt reason) is in ata-channel.ts; reading the medium is asynchronous, so READ commands come
// back as a request for the channel to fetch.
//
// References: SFF-8020i (ATA Packet Interface for CD-ROMs) and MMC-3 (T10 1363-D): TEST UNIT READY,
// REQUEST SENSE (fixed format, response code 70h), INQUIRY, START STOP UNIT, PREVENT ALLOW MEDIUM
// REMOVAL, READ CAPACITY, READ(10), READ(12), SEEK(10), READ TOC/PMA/ATIP (formats 0 and 1, LBA
// and MSF), GET CONFIGURATION (profile list, CD-ROM profile 0008h), GET EVENT STATUS NOTIFICATION
// (polled, media class), READ DISC INFORMATION, MODE SENSE(10) (pages 01h and 2Ah), MECHANISM
// STATUS and SET CD SPEED. Anything else: CHECK CONDITION, ILLEGAL REQUEST, INVALID COMMAND
// OPERATION CODE.
//
// The medium can change under the guest (the host ejects the image or inserts another): SPC-3 5.8.7
// and MMC-3 4.1.6 ("unit attention condition"): once a new medium is in, the next command other
// than INQUIRY, REQUEST SENSE, GET CONFIGURATION and GET EVENT STATUS NOTIFICATION ends in CHECK
// CONDITION with UNIT ATTENTION, NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED (06/28/00),
// which clears the condition; REQUEST SENSE reports and clears it too. GET EVENT STATUS
// NOTIFICATION's media class (MMC-3 6.5.4, table 111) reports NewMedia (2h) or MediaRemoval (3h)
// once, then NoChg; while the drive is empty, media commands fail with NOT READY, MEDIUM NOT
// PRESENT (02/3A/00).

export const SECTOR = 2048;

export const SENSE_NONE = 0x00;
export const SENSE_NOT_READY = 0x02;
export const SENSE_MEDIUM_ERROR = 0x03;
export const SENSE_ILLEGAL_REQUEST = 0x05;
export const SENSE_UNIT_ATTENTION = 0x06;

export const ASC_INVALID_OPCODE = 0x20;
export const ASC_LBA_OUT_OF_RANGE = 0x21;
export const ASC_INVALID_FIELD = 0x24;
export const ASC_MEDIUM_NOT_PRESENT = 0x3a;
export const ASC_UNRECOVERED_READ = 0x11;
export const ASC_MEDIUM_MAY_HAVE_CHANGED = 0x28;

/** GET EVENT STATUS NOTIFICATION, media class event codes (MMC-3 table 111). */
export const MEDIA_NO_CHANGE = 0;
export const MEDIA_NEW = 2;
export const MEDIA_REMOVAL = 3;

/** Commands a unit attention condition does not hold up (SPC-3 5.8.7, MMC-3 4.1.6). */
const UA_EXEMPT = new Set([0x12, 0x03, 0x46, 0x4a]);

export interface Sense {
  key: number;
  asc: number;
  ascq: number;
}

export type PacketResult =
  | { kind: 'data'; data: Uint8Array }
  | { kind: 'none' }
  | { kind: 'read'; lba: number; count: number }
  | { kind: 'error'; sense: Sense };

const OK: PacketResult = { kind: 'none' };
const NO_SENSE: Sense = { key: SENSE_NONE, asc: 0, ascq: 0 };

const be16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
const be32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
function put32(b: Uint8Array, o: number, v: number): void {
  put16(b, o, v >>> 16);
  put16(b, o + 2, v & 0xffff);
}

/** LBA to minutes/seconds/frames, with the 2-second (150-frame) pregap of track 1. */
function msf(lba: number): [number, number, number] {
  const f = lba + 150;
  return [Math.floor(f / (75 * 60)), Math.floor(f / 75) % 60, f % 75];
}

function text(s: string, n: number): number[] {
  return Array.from(s.padEnd(n, ' ').slice(0, n), (c) => c.charCodeAt(0));
}

export class AtapiCdrom {
  /** What REQUEST SENSE reports: the outcome of the last command. */
  sense: Sense = NO_SENSE;
  /** A new medium went in and the guest has not been told yet by a CHECK CONDITION. */
  unitAttention = false;
  /** The media event GET EVENT STATUS NOTIFICATION reports next (then NoChg). */
  mediaEvent = MEDIA_NO_CHANGE;
  /** Counts medium changes, so a read of the old medium still in flight is not handed over as the new one's. */
  generation = 0;

  constructor(
    /** Medium size in 2048-byte sectors; 0 means no disc. */
    public sectors: number,
  ) {}

  /** The host took the disc out (0) or put one of `sectors` in. */
  changeMedium(sectors: number): void {
    this.sectors = sectors;
    this.generation++;
    this.unitAttention = sectors > 0;
    this.mediaEvent = sectors > 0 ? MEDIA_NEW : MEDIA_REMOVAL;
  }

  private fail(key: number, asc: number, ascq = 0): PacketResult {
    return { kind: 'error', sense: { key, asc, ascq } };
  }

  private data(bytes: Uint8Array | number[], allocation: number): PacketResult {
    const all = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes);
    return { kind: 'data', data: all.subarray(0, Math.min(all.length, allocation)) };
  }

  /** Runs one packet; the caller records the result's sense (or NO SENSE) once the command ends. */
  command(cdb: Uint8Array): PacketResult {
    const op = cdb[0]!;
    const medium = this.sectors > 0;
    const needMedium = (): PacketResult | null => (medium ? null : this.fail(SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT));
    if (this.unitAttention && !UA_EXEMPT.has(op)) {
      this.unitAttention = false;
      return this.fail(SENSE_UNIT_ATTENTION, ASC_MEDIUM_MAY_HAVE_CHANGED);
    }
    switch (op) {
      case 0x00: // TEST UNIT READY
        return needMedium() ?? OK;
      case 0x03: {
        // REQUEST SENSE: fixed format. The sense it returns is then cleared; a pending unit
        // attention is reported (and so cleared) before anything else.
        let s = this.sense;
        if (this.unitAttention) {
          this.unitAttention = false;
          s = { key: SENSE_UNIT_ATTENTION, asc: ASC_MEDIUM_MAY_HAVE_CHANGED, ascq: 0 };
        }
        const d = new Uint8Array(18);
        d[0] = 0x70;
        d[2] = s.key;
        d[7] = 10;
        d[12] = s.asc;
        d[13] = s.ascq;
        return this.data(d, cdb[4]!);
      }
      case 0x12: {
        // INQUIRY (standard data only; vital product data pages are not offered)
        if (cdb[1]! & 1) return this.fail(SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
        const d = [0x05, 0x80, 0x00, 0x21, 31, 0, 0, 0, ...text('HOSTBOX', 8), ...text('CD-ROM', 16), ...text('0.1', 4)];
        return this.data(d, be16(cdb, 3));
      }
      case 0x1b: // START STOP UNIT: spinning and loading are instant; ejecting is not modelled
      case 0x1e: // PREVENT ALLOW MEDIUM REMOVAL
      case 0xbb: // SET CD SPEED
        return OK;
      case 0x2b: // SEEK(10)
        return needMedium() ?? (be32(cdb, 2) >= this.sectors ? this.fail(SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE) : OK);
      case 0x25: {
        // READ CAPACITY: the last LBA and the block length
        const no = needMedium();
        if (no) return no;
        const d = new Uint8Array(8);
        put32(d, 0, this.sectors - 1);
        put32(d, 4, SECTOR);
        return this.data(d, 8);
      }
      case 0x28: // READ(10)
      case 0xa8: {
        // READ(12)
        const no = needMedium();
        if (no) return no;
        const lba = be32(cdb, 2);
        const count = op === 0x28 ? be16(cdb, 7) : be32(cdb, 6);
        if (lba + count > this.sectors) return this.fail(SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
        return count === 0 ? OK : { kind: 'read', lba, count };
      }
      case 0x43:
        return this.readToc(cdb);
      case 0x46: {
        // GET CONFIGURATION: the feature header and the profile list (feature 0)
        const d = new Uint8Array(16);
        put32(d, 0, 12);
        put16(d, 6, medium ? 0x0008 : 0);
        put16(d, 8, 0x0000);
        d[10] = 0x03; // persistent, current
        d[11] = 4;
        put16(d, 12, 0x0008); // CD-ROM
        d[14] = medium ? 1 : 0;
        return this.data(d, be16(cdb, 7));
      }
      case 0x4a: {
        // GET EVENT STATUS NOTIFICATION: only the polled form exists over ATAPI here. The media
        // class is reported when asked for (request bit 4), and its event is then consumed.
        if (!(cdb[1]! & 1)) return this.fail(SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
        if (!(cdb[4]! & 0x10)) {
          // No class we support was asked for: the header alone, with NEA set.
          const h = new Uint8Array(4);
          put16(h, 0, 2);
          h[2] = 0x80;
          h[3] = 0x10;
          return this.data(h, be16(cdb, 7));
        }
        const d = new Uint8Array(8);
        put16(d, 0, 6);
        d[2] = 0x04; // media class
        d[3] = 0x10; // supported: media
        d[4] = this.mediaEvent;
        d[5] = medium ? 0x02 : 0x00; // media present
        this.mediaEvent = MEDIA_NO_CHANGE;
        return this.data(d, be16(cdb, 7));
      }
      case 0x51: {
        // READ DISC INFORMATION: a finished single-session disc with one track
        const no = needMedium();
        if (no) return no;
        const d = new Uint8Array(34);
        put16(d, 0, 32);
        d[2] = 0x0e; // last session complete, disc complete
        d[3] = d[4] = d[5] = d[6] = 1;
        return this.data(d, be16(cdb, 7));
      }
      case 0x5a:
        return this.modeSense(cdb);
      case 0xbd: {
        // MECHANISM STATUS: no changer, door closed, no slots
        const d = new Uint8Array(8);
        return this.data(d, be16(cdb, 8));
      }
      default:
        return this.fail(SENSE_ILLEGAL_REQUEST, ASC_INVALID_OPCODE);
    }
  }

  private readToc(cdb: Uint8Array): PacketResult {
    const no = this.sectors > 0 ? null : this.fail(SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
    if (no) return no;
    const useMsf = (cdb[1]! & 0x02) !== 0;
    // The format is in byte 2; old drivers (SFF-8020i) put it in the top bits of byte 9.
    const format = cdb[2]! & 0x0f || cdb[9]! >> 6;
    const alloc = be16(cdb, 7);
    const addr = (d: Uint8Array, o: number, lba: number): void => {
      if (useMsf) {
        const [m, s, f] = msf(lba);
        d[o] = 0;
        d[o + 1] = m;
        d[o + 2] = s;
        d[o + 3] = f;
      } else put32(d, o, lba);
    };
    if (format === 0) {
      const start = cdb[6]!;
      if (start > 1 && start !== 0xaa) return this.fail(SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
      const tracks: [number, number][] = start <= 1 ? [[1, 0], [0xaa, this.sectors]] : [[0xaa, this.sectors]];
      const d = new Uint8Array(4 + 8 * tracks.length);
      put16(d, 0, d.length - 2);
      d[2] = 1;
      d[3] = 1;
      tracks.forEach(([track, lba], i) => {
        const o = 4 + 8 * i;
        d[o + 1] = 0x14; // ADR 1, data track
        d[o + 2] = track;
        addr(d, o + 4, lba);
      });
      return this.data(d, alloc);
    }
    if (format === 1) {
      // Session information: one session, starting at track 1.
      const d = new Uint8Array(12);
      put16(d, 0, 10);
      d[2] = 1;
      d[3] = 1;
      d[5] = 0x14;
      d[6] = 1;
      addr(d, 8, 0);
      return this.data(d, alloc);
    }
    return this.fail(SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
  }

  private modeSense(cdb: Uint8Array): PacketResult {
    const page = cdb[2]! & 0x3f;
    const control = cdb[2]! >> 6;
    if (control === 3) return this.fail(SENSE_ILLEGAL_REQUEST, 0x39); // saving parameters not supported
    const pages: number[][] = [];
    if (page === 0x01 || page === 0x3f) pages.push([0x01, 0x06, 0x00, 0x05, 0, 0, 0, 0]); // read error recovery
    if (page === 0x2a || page === 0x3f) {
      // CD capabilities and mechanical status (MMC-3 6.3.11)
      const p = new Array<number>(20).fill(0);
      p[0] = 0x2a;
      p[1] = 18;
      p[2] = 0x03; // reads CD-R and CD-RW
      p[4] = 0x71; // audio play, mode 2 form 1 and 2, multi-session
      p[5] = 0x7f;
      p[6] = 0x29; // tray loader, eject, lock
      p[8] = 0x02; // maximum speed 706 kB/s (obsolete field)
      p[9] = 0xc2;
      p[10] = 0x00; // volume levels
      p[11] = 0xff;
      p[12] = 0x02; // 512 KiB buffer
      p[14] = 0x02;
      p[15] = 0xc2;
      pages.push(p);
    }
    if (!pages.length) return this.fail(SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
    const body = pages.flat();
    const d = new Uint8Array(8 + body.length);
    put16(d, 0, d.length - 2);
    d[2] = this.sectors > 0 ? 0x01 : 0x70; // medium type: 120 mm data disc, or no disc
    d.set(body, 8);
    return this.data(d, be16(cdb, 7));
  }
}
