import type { Qid, Stat } from './messages.js';

/** The little-endian u32 at `at`, which the caller has checked lies within `b`. */
export function u32At(b: Buffer, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16)) + b[at + 3]! * 0x1000000;
}

/** Thrown only inside the codec, where `decode` turns it into a returned value. */
export class ShortMessage extends Error {}

/** Reads little-endian 9P fields from [pos, end) of a buffer; never reads past `end`. */
export class BufferReader {
  pos: number;

  constructor(
    public buf: Buffer,
    start = 0,
    public end = buf.length,
  ) {
    this.pos = start;
  }

  /** Reads `buf` from `start` now: one reader serves every message (no object made per message). */
  reset(buf: Buffer, start: number): this {
    this.buf = buf;
    this.pos = start;
    this.end = buf.length;
    return this;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): number {
    const at = this.pos;
    if (n > this.end - at) throw new ShortMessage(`${what} runs past the end of the message`);
    this.pos = at + n;
    return at;
  }

  // Bytes read directly: `need` has checked the bounds that Buffer's readUInt* would check again.
  u8(what = 'u8'): number {
    return this.buf[this.need(1, what)]!;
  }

  u16(what = 'u16'): number {
    const at = this.need(2, what);
    const b = this.buf;
    return b[at]! | (b[at + 1]! << 8);
  }

  u32(what = 'u32'): number {
    return u32At(this.buf, this.need(4, what));
  }

  u64(what = 'u64'): bigint {
    const at = this.need(8, what);
    const lo = u32At(this.buf, at);
    const hi = u32At(this.buf, at + 4);
    // Offsets and qid paths mostly fit in 32 bits: one bigint made instead of readBigUInt64LE's three.
    return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
  }

  string(what = 'string'): string {
    const n = this.u16(what);
    const at = this.need(n, what);
    return this.buf.toString('utf8', at, at + n);
  }

  /** A view, not a copy: valid as long as the message buffer is. */
  bytes(n: number, what = 'data'): Buffer {
    const at = this.need(n, what);
    return this.buf.subarray(at, at + n);
  }

  qid(what = 'qid'): Qid {
    return { type: this.u8(what), version: this.u32(what), path: this.u64(what) };
  }

  /** One stat entry; its size[2] must cover exactly its fields. */
  stat(): Stat {
    const size = this.u16('stat size');
    const end = this.need(size, 'stat entry') + size;
    this.pos = end - size;
    const inner = new BufferReader(this.buf, this.pos, end);
    const st: Stat = {
      type: inner.u16('stat type'),
      dev: inner.u32('stat dev'),
      qid: inner.qid('stat qid'),
      mode: inner.u32('stat mode'),
      atime: inner.u32('stat atime'),
      mtime: inner.u32('stat mtime'),
      length: inner.u64('stat length'),
      name: inner.string('stat name'),
      uid: inner.string('stat uid'),
      gid: inner.string('stat gid'),
      muid: inner.string('stat muid'),
    };
    if (inner.remaining !== 0) throw new ShortMessage(`stat entry size ${size} disagrees with its fields`);
    this.pos = end;
    return st;
  }
}
