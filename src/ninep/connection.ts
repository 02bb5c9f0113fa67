/**
 * One client's connection: framing, routing each request to its handler (requests.ts), and the
 * replies. Requests run concurrently (a blocked read never holds up the rest of the connection)
 * and are answered by tag in whatever order they finish, as 9pfuse's pipelining expects — with
 * one ordering kept: a request that changes what a fid is (a walk to it, its open, create, clunk
 * or remove) is seen by every later request naming that fid, as with lib9p, which answers them
 * in arrival order. Replies that are ready together go out in one write.
 */
import { Buffer } from 'node:buffer';
import type { Duplex } from 'node:stream';

import { MessageType, VERSION_9P2000 } from './constants.js';
import { Errors } from './errors.js';
import { Fid } from './fids.js';
import type { Maybe } from './maybe.js';
import { isPromise } from './maybe.js';
import type { RMessage, TMessage } from './messages.js';
import { DecodeError, MessageFramer, decode } from './parser.js';
import { handle } from './requests.js';
import { encode } from './serializer.js';
import type { Server } from './server.js';

export const MIN_MSIZE = 256;

/** A request that has not been answered yet. */
export interface Request {
  readonly tag: number;
  readonly epoch: number;
  /** Aborts its wait, when it waits on a file (a read). */
  controller: AbortController | null;
  flushed: boolean;
  /** Settles once it is answered (or dropped); null while it runs without waiting. */
  done: Promise<void> | null;
}

/** The fid a request changes, which later requests naming it must see changed. */
function changedFid(m: TMessage): number | null {
  switch (m.type) {
    case 'Twalk':
      return m.newfid;
    case 'Topen':
    case 'Tcreate':
    case 'Tclunk':
    case 'Tremove':
      return m.fid;
    default:
      return null;
  }
}

/** The longest prefix of `s` whose UTF-8 encoding fits in `max` bytes, never splitting a character. */
function truncateUtf8(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  const bytes = Buffer.from(s);
  let end = max;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // back up to the start of a character
  return bytes.subarray(0, end).toString();
}

export class Connection {
  readonly fids = new Map<number, Fid>();
  private readonly pending = new Map<number, Request>();
  /** Fids that requests still running are changing, with when they are done. */
  private readonly changing = new Map<number, Promise<void>>();
  private readonly framer: MessageFramer;
  msize: number;
  private versioned = false;
  /** Bumped by Tversion: replies of requests from an older epoch are never sent. */
  private epoch = 0;
  private closed = false;
  private paused = false;
  /**
   * Encoded replies not yet written: those of one batch of requests, or of one turn of the loop.
   * The first apart from the rest: most batches are one request, whose reply is written as it is.
   */
  private first: Buffer | null = null;
  private readonly rest: Buffer[] = [];
  private batching = false;
  private flushing: NodeJS.Immediate | null = null;

  constructor(
    readonly server: Server,
    private readonly stream: Duplex,
    private readonly onClose: () => void,
  ) {
    this.msize = server.msize;
    this.framer = new MessageFramer(server.msize);
    stream.on('end', () => this.close());
    stream.on('close', () => this.close());
    stream.on('error', (e) => {
      this.server.log(`9p connection error: ${e.message}`);
      this.close();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.abortAll();
    this.dropFids();
    if (this.flushing) clearImmediate(this.flushing);
    this.stream.destroy();
    this.onClose();
  }

  /** Takes in bytes read from the client; a `borrowed` chunk lies in a buffer the next read fills. */
  receive(chunk: Buffer, borrowed: boolean): void {
    if (this.closed) return;
    this.framer.push(chunk);
    this.batching = true;
    try {
      for (;;) {
        let frame = this.framer.next();
        if (frame === null) break;
        if (frame instanceof DecodeError) return this.protocolError(frame.toString());
        // A Twrite's data is a view into its frame (the only T-message field that is), which its
        // handler may hold past this call: out of a borrowed chunk, it is copied.
        if (borrowed && frame[4] === MessageType.Twrite) frame = Buffer.from(frame);
        const m = decode(frame);
        if (m instanceof DecodeError) return this.protocolError(m.toString());
        // T-messages have even type numbers, R-messages odd ones.
        if (frame[4]! % 2 !== 0) return this.protocolError(`client sent ${m.type}`);
        // Type and tag from the frame: a read of the message's own field sees every shape of message.
        this.dispatch(m as TMessage, frame[4]!, frame[5]! | (frame[6]! << 8));
        if (this.closed) return;
      }
    } finally {
      this.batching = false;
      if (borrowed) this.framer.keep();
    }
    this.flush();
  }

  private protocolError(why: string): void {
    this.flush(); // the answers to the requests before it
    this.server.log(`9p: closing connection: ${why}`);
    this.close();
  }

  /** Routes one request (of type number `type`, tagged `tag`); answers it now when its handler answers at once. */
  private dispatch(m: TMessage, type: number, tag: number): void {
    if (m.type === 'Tversion') return this.reply(this.version(tag, m.msize, m.version));
    if (!this.versioned) return this.reply(this.rerror(tag, Errors.notVersioned));
    if (this.pending.has(tag)) return this.reply(this.rerror(tag, Errors.tagInUse(tag)));
    // A flush is how a client frees a full connection: it is never refused for lack of room.
    if (this.pending.size >= this.server.maxPending && m.type !== 'Tflush') {
      return this.reply(this.rerror(tag, Errors.tooManyRequests(this.server.maxPending)));
    }
    const p: Request = { tag, epoch: this.epoch, controller: null, flushed: false, done: null };
    const before = this.changing.size > 0 ? this.changeBefore(m) : undefined;
    const answer = before ? before.then(() => this.run(m, type, p)) : this.run(m, type, p);
    if (!isPromise(answer)) {
      if (answer) this.reply(answer);
      return;
    }
    this.pending.set(tag, p);
    const done = answer.then((reply) => {
      if (this.pending.get(tag) === p) this.pending.delete(tag);
      if (reply && this.alive(p)) this.reply(reply);
    });
    p.done = done;
    const fid = changedFid(m);
    if (fid === null) return;
    this.changing.set(fid, done);
    void done.then(() => {
      if (this.changing.get(fid) === done) this.changing.delete(fid);
    });
  }

  /** The change still running on a fid that `m` names. */
  private changeBefore(m: TMessage): Promise<void> | undefined {
    if (m.type === 'Tversion' || m.type === 'Tflush' || m.type === 'Tauth') return undefined;
    return this.changing.get(m.fid) ?? (m.type === 'Twalk' ? this.changing.get(m.newfid) : undefined);
  }

  private run(m: TMessage, type: number, p: Request): Maybe<RMessage | null> {
    if (p.flushed || !this.alive(p)) return null;
    try {
      const answer = handle(this, m, p, type);
      return isPromise(answer) ? answer.catch((e: unknown) => this.failed(m, p, e)) : answer;
    } catch (e) {
      return this.failed(m, p, e);
    }
  }

  private failed(m: TMessage, p: Request, e: unknown): RMessage | null {
    if (p.flushed || !this.alive(p)) return null;
    const ename = e instanceof Error ? e.message : String(e);
    if (!(e instanceof Error) || e.constructor !== Error) this.server.log(`9p: ${m.type}: ${ename}`);
    return this.rerror(p.tag, ename || Errors.internal('unknown'));
  }

  /** An Rerror whose text fits the connection's msize (plan9port cuts it further, at 127 bytes). */
  private rerror(tag: number, ename: string): RMessage {
    return { type: 'Rerror', tag, ename: truncateUtf8(ename, this.msize - 9) };
  }

  alive(p: Request): boolean {
    return !this.closed && p.epoch === this.epoch;
  }

  /** flush(5): the request is cancelled unless it has answered; answered once it is gone. */
  cancel(oldtag: number, p: Request): Maybe<void> {
    const old = this.pending.get(oldtag);
    if (!old || old === p) return;
    old.flushed = true;
    old.controller?.abort(new Error(Errors.interrupted));
    return old.done ?? undefined;
  }

  private version(tag: number, msize: number, version: string): RMessage {
    // version(5): a new Tversion aborts all outstanding I/O and frees every fid.
    this.epoch++;
    // Answers not yet written belong to the older epoch: never sent, as if aborted.
    this.first = null;
    this.rest.length = 0;
    this.abortAll();
    this.dropFids();
    if (msize < MIN_MSIZE) {
      this.versioned = false;
      return this.rerror(tag, Errors.msizeTooSmall(msize));
    }
    this.msize = Math.min(msize, this.server.msize);
    this.framer.maxSize = this.msize;
    const known = version === VERSION_9P2000 || version.startsWith(`${VERSION_9P2000}.`);
    this.versioned = known;
    return { type: 'Rversion', tag, msize: this.msize, version: known ? VERSION_9P2000 : 'unknown' };
  }

  private abortAll(): void {
    const interrupted = new Error(Errors.interrupted);
    for (const p of this.pending.values()) p.controller?.abort(interrupted);
    this.pending.clear();
    this.changing.clear();
  }

  private dropFids(): void {
    const fids = [...this.fids.values()];
    this.fids.clear();
    const log = (e: unknown) => this.server.log(`9p: closing a dropped fid: ${String(e)}`);
    for (const fid of fids) {
      try {
        const closed = fid.release('drop');
        if (isPromise(closed)) closed.catch(log);
      } catch (e) {
        log(e);
      }
    }
  }

  fid(n: number): Fid {
    const fid = this.fids.get(n);
    if (!fid) throw new Error(Errors.unknownFid(n));
    return fid;
  }

  /** Throws unless `n` may name a new fid. */
  claimable(n: number): void {
    if (this.fids.has(n)) throw new Error(Errors.fidInUse(n));
    if (this.fids.size >= this.server.maxFids) throw new Error(Errors.tooManyFids(this.server.maxFids));
  }

  private reply(m: RMessage): void {
    if (this.closed) return;
    let buf: Buffer;
    try {
      buf = encode(m); // an Rerror's text was cut to fit when it was made (rerror)
      if (buf.length > this.msize) buf = this.errorBuf(m.tag, Errors.replyTooLarge(m.type, buf.length, this.msize));
    } catch (e) {
      buf = this.errorBuf(m.tag, Errors.internal(e instanceof Error ? e.message : String(e)));
    }
    if (this.first === null) this.first = buf;
    else this.rest.push(buf);
    // Replies of one batch of requests are written when the batch is done; a later reply waits
    // for the end of this turn of the event loop, gathering those that finish with it.
    if (!this.batching && !this.flushing) this.flushing = setImmediate(() => this.flush());
  }

  private errorBuf(tag: number, ename: string): Buffer {
    return encode(this.rerror(tag, ename));
  }

  private flush(): void {
    if (this.flushing) clearImmediate(this.flushing);
    this.flushing = null;
    const first = this.first;
    if (first === null || this.closed) return;
    let bytes = first;
    if (this.rest.length > 0) {
      bytes = Buffer.concat([first, ...this.rest]);
      this.rest.length = 0;
    }
    this.first = null;
    if (!this.stream.write(bytes) && !this.paused) {
      // The client is not reading its replies: stop reading its requests until it does.
      this.paused = true;
      this.stream.pause();
      this.stream.once('drain', () => {
        this.paused = false;
        if (!this.closed) this.stream.resume();
      });
    }
  }
}
