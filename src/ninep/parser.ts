import { Buffer } from 'node:buffer';
import { BufferReader, ShortMessage, u32At } from './buffer-reader.js';
import { MAXWELEM, messageNameOf } from './constants.js';
import type { Message, Qid, Stat } from './messages.js';

/** Why bytes are not a 9P2000 message. Returned, never thrown, by `decode`. */
export class DecodeError {
  constructor(readonly message: string) {}
  toString(): string {
    return `malformed 9P message: ${this.message}`;
  }
}

function stat(r: BufferReader): Stat {
  const n = r.u16('stat length');
  const before = r.pos;
  const st = r.stat();
  if (r.pos - before !== n) throw new ShortMessage(`stat length ${n} disagrees with the entry (${r.pos - before} bytes)`);
  return st;
}

function body(r: BufferReader, type: number, tag: number): Message {
  const name = messageNameOf[type];
  // A switch on strings tests its cases in order: those of the common round trips come first.
  switch (name) {
    case 'Twalk': {
      const fid = r.u32('fid');
      const newfid = r.u32('newfid');
      const n = r.u16('nwname');
      if (n > MAXWELEM) throw new ShortMessage(`Twalk with ${n} names (at most ${MAXWELEM})`);
      const wnames: string[] = [];
      for (let i = 0; i < n; i++) wnames.push(r.string('wname'));
      return { type: name, tag, fid, newfid, wnames };
    }
    case 'Topen':
      return { type: name, tag, fid: r.u32('fid'), mode: r.u8('mode') };
    case 'Tread':
      return { type: name, tag, fid: r.u32('fid'), offset: r.u64('offset'), count: r.u32('count') };
    case 'Tclunk':
    case 'Tremove':
    case 'Tstat':
      return { type: name, tag, fid: r.u32('fid') };
    case 'Twrite': {
      const fid = r.u32('fid');
      const offset = r.u64('offset');
      return { type: name, tag, fid, offset, data: r.bytes(r.u32('count')) };
    }
    case 'Rwalk': {
      const n = r.u16('nwqid');
      if (n > MAXWELEM) throw new ShortMessage(`Rwalk with ${n} qids (at most ${MAXWELEM})`);
      const qids: Qid[] = [];
      for (let i = 0; i < n; i++) qids.push(r.qid());
      return { type: name, tag, qids };
    }
    case 'Ropen':
    case 'Rcreate':
      return { type: name, tag, qid: r.qid(), iounit: r.u32('iounit') };
    case 'Rread':
      return { type: name, tag, data: r.bytes(r.u32('count')) };
    case 'Rflush':
    case 'Rclunk':
    case 'Rremove':
    case 'Rwstat':
      return { type: name, tag };
    case 'Rwrite':
      return { type: name, tag, count: r.u32('count') };
    case 'Rerror':
      return { type: name, tag, ename: r.string('ename') };
    case 'Rstat':
      return { type: name, tag, stat: stat(r) };
    case 'Tversion':
    case 'Rversion':
      return { type: name, tag, msize: r.u32('msize'), version: r.string('version') };
    case 'Tauth':
      return { type: name, tag, afid: r.u32('afid'), uname: r.string('uname'), aname: r.string('aname') };
    case 'Rauth':
      return { type: name, tag, aqid: r.qid('aqid') };
    case 'Tattach':
      return { type: name, tag, fid: r.u32('fid'), afid: r.u32('afid'), uname: r.string('uname'), aname: r.string('aname') };
    case 'Rattach':
      return { type: name, tag, qid: r.qid() };
    case 'Tflush':
      return { type: name, tag, oldtag: r.u16('oldtag') };
    case 'Tcreate':
      return { type: name, tag, fid: r.u32('fid'), name: r.string('name'), perm: r.u32('perm'), mode: r.u8('mode') };
    case 'Twstat':
      return { type: name, tag, fid: r.u32('fid'), stat: stat(r) };
    default:
      throw new ShortMessage(`unknown message type ${type}`);
  }
}

const READER = new BufferReader(Buffer.alloc(0));

/**
 * Decodes one whole message (size[4] included). Byte fields are views into `buf`.
 * Anything that is not exactly one well-formed 9P2000 message is a DecodeError.
 */
export function decode(buf: Buffer): Message | DecodeError {
  if (buf.length < 7) return new DecodeError(`${buf.length} bytes is shorter than a message header`);
  const size = u32At(buf, 0);
  if (size !== buf.length) return new DecodeError(`size field ${size} disagrees with ${buf.length} bytes`);
  try {
    const r = READER.reset(buf, 7); // decode never runs inside itself: one reader will do
    const m = body(r, buf[4]!, buf[5]! | (buf[6]! << 8));
    if (r.remaining !== 0) return new DecodeError(`${r.remaining} bytes left over after ${m.type}`);
    return m;
  } catch (e) {
    if (e instanceof ShortMessage) return new DecodeError(e.message);
    throw e;
  }
}

/** The stat entries of a directory read; a truncated or inconsistent entry is a DecodeError. */
export function decodeStats(data: Buffer): Stat[] | DecodeError {
  const r = new BufferReader(data);
  const out: Stat[] = [];
  try {
    while (r.remaining > 0) out.push(r.stat());
  } catch (e) {
    if (e instanceof ShortMessage) return new DecodeError(e.message);
    throw e;
  }
  return out;
}

/**
 * Splits a byte stream into whole messages. `push` chunks as they arrive, then take messages
 * with `next` until it returns null. A size field that is too small or above `maxSize` makes
 * `next` return a DecodeError: the stream cannot be resynchronised after that.
 */
const EMPTY = Buffer.alloc(0);

export class MessageFramer {
  private pending: Buffer = EMPTY;
  /** Whether `pending` is a buffer of our own (joined from chunks), not a view of the last chunk. */
  private owned = true;

  constructor(public maxSize: number) {}

  push(chunk: Buffer): void {
    this.owned = this.pending.length > 0;
    this.pending = this.owned ? Buffer.concat([this.pending, chunk]) : chunk;
  }

  /** Copies the bytes of an unfinished message out of the last chunk, whose buffer is about to be read into again. */
  keep(): void {
    if (this.owned || this.pending.length === 0) return;
    this.pending = Buffer.from(this.pending);
    this.owned = true;
  }

  next(): Buffer | DecodeError | null {
    const p = this.pending;
    if (p.length < 4) return null;
    const size = u32At(p, 0);
    if (size < 7) return new DecodeError(`size field ${size} is shorter than a message header`);
    if (size > this.maxSize) return new DecodeError(`message of ${size} bytes exceeds msize ${this.maxSize}`);
    if (p.length < size) return null;
    if (p.length === size) {
      // The common case, a chunk holding one message: no views to make.
      this.pending = EMPTY;
      return p;
    }
    this.pending = p.subarray(size);
    return p.subarray(0, size);
  }

  get buffered(): number {
    return this.pending.length;
  }
}
