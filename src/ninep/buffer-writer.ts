// Node's global Buffer is an accessor, called at each use; the module's export is a plain binding.
import { Buffer } from 'node:buffer';
import type { Qid, Stat } from './messages.js';

/** Bytes a 9P string takes on the wire: its u16 length and its UTF-8 bytes. */
export function stringSize(s: string): number {
  return 2 + Buffer.byteLength(s, 'utf8');
}

export const QID_SIZE = 13;

/** Bytes a stat entry takes, its own size[2] included. */
export function statSize(st: Stat): number {
  return 2 + 39 + stringSize(st.name) + stringSize(st.uid) + stringSize(st.gid) + stringSize(st.muid);
}

function inRange(v: number, max: number, field: string): void {
  if (v > max || v < 0) throw new RangeError(`${field} value ${v} out of range 0..${max}`);
}

/**
 * Writes little-endian 9P fields into a buffer sized beforehand, so a message is one allocation.
 * Callers compute the size first; writing past it is a bug and throws, as does a value too big
 * for its field. Bytes are stored directly: Buffer's writeUInt* check again what is checked here.
 */
export class BufferWriter {
  buf: Buffer;
  pos = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** Writes a new buffer of `size` bytes from its start: one writer can serve every message. */
  reset(size: number): this {
    this.buf = Buffer.allocUnsafe(size);
    this.pos = 0;
    return this;
  }

  /** Where the `n` bytes of `field` go; throws past the end. */
  private at(n: number, field: string): number {
    const at = this.pos;
    if (at + n > this.buf.length) throw new RangeError(`${field} written past the end of a ${this.buf.length}-byte message`);
    this.pos = at + n;
    return at;
  }

  u8(v: number): this {
    inRange(v, 0xff, 'u8');
    this.buf[this.at(1, 'u8')] = v;
    return this;
  }

  u16(v: number): this {
    inRange(v, 0xffff, 'u16');
    const at = this.at(2, 'u16');
    this.buf[at] = v;
    this.buf[at + 1] = v >>> 8;
    return this;
  }

  u32(v: number): this {
    v >>>= 0;
    const at = this.at(4, 'u32');
    const b = this.buf;
    b[at] = v;
    b[at + 1] = v >>> 8;
    b[at + 2] = v >>> 16;
    b[at + 3] = v >>> 24;
    return this;
  }

  u64(v: bigint): this {
    // Qid paths, lengths and offsets mostly fit in 32 bits: no bigint arithmetic for those (a
    // bigint that converts to a number within 0..2^32-1 is that number exactly).
    const n = Number(v);
    if (n >= 0 && n <= 0xffffffff) return this.u32(n).u32(0);
    this.buf.writeBigUInt64LE(BigInt.asUintN(64, v), this.at(8, 'u64'));
    return this;
  }

  string(s: string): this {
    const n = this.buf.write(s, this.pos + 2, 'utf8');
    if (n > 0xffff) throw new RangeError(`9P string of ${n} bytes exceeds 65535`);
    this.buf.writeUInt16LE(n, this.pos);
    this.pos += 2 + n;
    return this;
  }

  bytes(data: Uint8Array): this {
    const n = data.length;
    if (n > 32) {
      this.buf.set(data, this.pos);
      this.pos += n;
      return this;
    }
    // A few bytes are copied faster one by one than through TypedArray.prototype.set.
    const at = this.at(n, 'bytes');
    const b = this.buf;
    for (let i = 0; i < n; i++) b[at + i] = data[i]!;
    return this;
  }

  qid(q: Qid): this {
    return this.u8(q.type).u32(q.version).u64(q.path);
  }

  stat(st: Stat): this {
    const size = statSize(st) - 2;
    if (size > 0xffff) throw new RangeError(`stat entry of ${size} bytes exceeds 65535`);
    return this.u16(size)
      .u16(st.type)
      .u32(st.dev)
      .qid(st.qid)
      .u32(st.mode)
      .u32(st.atime)
      .u32(st.mtime)
      .u64(st.length)
      .string(st.name)
      .string(st.uid)
      .string(st.gid)
      .string(st.muid);
  }
}
