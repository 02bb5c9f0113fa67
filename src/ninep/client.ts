/**
 * A 9P2000 client: many requests in flight on one connection, each abortable (abort sends Tflush).
 * An aborted request settles when the server answers: with its reply if it completed before the
 * flush, else with the abort reason. Paths are slash-separated from the attach root. Files are opened as `ClientFile`s that read and
 * write at their own offset, like 9fans/go's plan9/client.Fid.
 */
import { Buffer } from 'node:buffer';
import net from 'node:net';
import os from 'node:os';
import type { Duplex } from 'node:stream';

import { IOHDRSZ, MAXWELEM, MessageType, NOFID, NOTAG, OREAD, OTRUNC, OWRITE, VERSION_9P2000 } from './constants.js';
import type { Qid, RMessage, Stat, TMessage } from './messages.js';
import { unchangedStat } from './messages.js';
import { resolveAddress } from './namespace.js';
import { DecodeError, MessageFramer, decode, decodeStats } from './parser.js';
import { encode } from './serializer.js';

/** An Rerror from the server: `message` is its text. */
export class NinepError extends Error {
  override name = 'NinepError';
}

const DEFAULT_MSIZE = 65536 + IOHDRSZ;

export interface DialOptions {
  /** Largest message we offer; the server may lower it. Default 64 KiB + IOHDRSZ. */
  msize?: number;
  uname?: string;
  aname?: string;
  env?: NodeJS.ProcessEnv;
}

export interface RequestOptions {
  signal?: AbortSignal;
}

type WithoutTag<T> = T extends unknown ? Omit<T, 'tag'> : never;
type TRequest = WithoutTag<Exclude<TMessage, { type: 'Tversion' }>>;
type ReplyFor<T extends TRequest> = Extract<RMessage, { type: `R${T['type'] extends `T${infer N}` ? N : never}` }>;

interface Waiter {
  resolve(m: RMessage): void;
  reject(e: Error): void;
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new DOMException('This operation was aborted', 'AbortError');
}

function splitPath(p: string): string[] {
  return p.split('/').filter((w) => w !== '' && w !== '.');
}

export class Client {
  private readonly framer = new MessageFramer(0xffffffff);
  private readonly waiters = new Map<number, Waiter>();
  private nextTag = 0;
  private readonly freeFids: number[] = [];
  private nextFid = 1;
  private closedWith: Error | null = null;
  msize = 0;
  /** The fid of the attach root. */
  readonly rootFid = 0;

  private constructor(private readonly stream: Duplex) {
    stream.on('error', (e) => this.fail(new Error(`9p connection: ${e.message}`)));
    stream.on('close', () => this.fail(new Error('9p connection closed')));
  }

  /** Dials a service name in the name space, `unix!/path` or `tcp!host!port`, then attaches. */
  static async dial(address: string, options: DialOptions = {}): Promise<Client> {
    const target = resolveAddress(address, options.env);
    // Replies are read into one buffer of ours, as the server reads requests (own-buffer.ts says why).
    let client: Client | null = null; // set before the first reply, which answers our Tversion
    const buffer = Buffer.allocUnsafe(options.msize ?? DEFAULT_MSIZE);
    const onread = {
      buffer,
      callback: (n: number) => {
        client?.receive(buffer.subarray(0, n), true);
        return true;
      },
    };
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = 'path' in target ? net.connect({ path: target.path, onread }) : net.connect({ port: target.port, host: target.host, onread });
      s.once('connect', () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', (e: NodeJS.ErrnoException) => {
        const where = 'path' in target ? target.path : `${target.host}:${target.port}`;
        const why = e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? 'nothing is serving there' : e.message;
        reject(new Error(`cannot dial ${address} (${where}): ${why}`));
      });
    });
    socket.setNoDelay(true);
    client = new Client(socket);
    return client.start(options);
  }

  /** Speaks 9P over an already connected stream: Tversion, then Tattach of fid 0. */
  static async connect(stream: Duplex, options: DialOptions = {}): Promise<Client> {
    const c = new Client(stream);
    stream.on('data', (chunk: Buffer) => c.receive(chunk, false));
    return c.start(options);
  }

  /** Tversion, then Tattach of fid 0. */
  private async start(options: DialOptions): Promise<Client> {
    try {
      const v = await this.rawRpc({ type: 'Tversion', tag: NOTAG, msize: options.msize ?? DEFAULT_MSIZE, version: VERSION_9P2000 });
      if (v.type !== 'Rversion' || v.version !== VERSION_9P2000) throw new Error(`server does not speak ${VERSION_9P2000}`);
      this.msize = v.msize;
      await this.rpc({
        type: 'Tattach',
        fid: this.rootFid,
        afid: NOFID,
        uname: options.uname ?? os.userInfo().username,
        aname: options.aname ?? '',
      });
      return this;
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** The largest payload of one read or write. */
  get iounit(): number {
    return this.msize - IOHDRSZ;
  }

  close(): void {
    this.fail(new Error('9p client closed'));
    this.stream.destroy();
  }

  private fail(e: Error): void {
    if (this.closedWith) return;
    this.closedWith = e;
    for (const w of this.waiters.values()) w.reject(e);
    this.waiters.clear();
  }

  /** Takes in bytes read from the server; a `borrowed` chunk lies in a buffer the next read fills. */
  private receive(chunk: Buffer, borrowed: boolean): void {
    this.framer.push(chunk);
    try {
      this.deliver(borrowed);
    } finally {
      if (borrowed) this.framer.keep();
    }
  }

  private deliver(borrowed: boolean): void {
    for (;;) {
      let frame = this.framer.next();
      if (frame === null) return;
      // An Rread's data is a view into its frame (the only R-message field that is), kept by
      // whoever asked: out of a borrowed chunk, it is copied.
      if (borrowed && !(frame instanceof DecodeError) && frame[4] === MessageType.Rread) frame = Buffer.from(frame);
      const m = frame instanceof DecodeError ? frame : decode(frame);
      if (m instanceof DecodeError || m.type[0] !== 'R') {
        this.fail(new Error(`9p: bad reply from server: ${m instanceof DecodeError ? m.message : m.type}`));
        this.stream.destroy();
        return;
      }
      const w = this.waiters.get(m.tag);
      if (!w) continue; // the reply to a request we gave up on (flushed)
      this.waiters.delete(m.tag);
      w.resolve(m as RMessage);
    }
  }

  private allocTag(): number {
    for (let i = 0; i < NOTAG; i++) {
      const tag = this.nextTag;
      this.nextTag = (this.nextTag + 1) % NOTAG;
      if (!this.waiters.has(tag)) return tag;
    }
    throw new Error('9p: no free tags');
  }

  private rawRpc(m: TMessage): Promise<RMessage> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      this.waiters.set(m.tag, { resolve, reject });
      this.stream.write(encode(m));
    });
  }

  /** Sends one request and waits for its reply; an Rerror rejects with a NinepError. */
  async rpc<T extends TRequest>(req: T, options: RequestOptions = {}): Promise<ReplyFor<T>> {
    const { signal } = options;
    if (signal?.aborted) throw abortError(signal);
    if (this.closedWith) throw this.closedWith;
    const tag = this.allocTag();
    const reply = await new Promise<RMessage>((resolve, reject) => {
      // flush(5): the request is settled by whichever comes first, its own reply (it completed:
      // resolve with it, losing nothing) or the Rflush (it never happened: reject).
      const onAbort = () => {
        const flushTag = this.allocTag();
        this.waiters.set(flushTag, {
          resolve: () => {
            if (this.waiters.delete(tag)) reject(abortError(signal!));
          },
          reject,
        });
        this.stream.write(encode({ type: 'Tflush', tag: flushTag, oldtag: tag }));
      };
      this.waiters.set(tag, {
        resolve: (m) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(m);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.stream.write(encode({ ...req, tag } as TMessage));
    });
    if (reply.type === 'Rerror') throw new NinepError(reply.ename);
    const expected = `R${req.type.slice(1)}`;
    if (reply.type !== expected) throw new Error(`9p: ${req.type} answered with ${reply.type}`);
    return reply as ReplyFor<T>;
  }

  private allocFid(): number {
    return this.freeFids.pop() ?? this.nextFid++;
  }

  /** Walks from the root to `path` on a new fid. A name that does not exist rejects. */
  async walk(path: string, options: RequestOptions = {}): Promise<{ fid: number; qid: Qid | null }> {
    const names = splitPath(path);
    const fid = this.allocFid();
    let from = this.rootFid;
    let qid: Qid | null = null;
    try {
      let i = 0;
      do {
        const chunk = names.slice(i, i + MAXWELEM);
        const r = await this.rpc({ type: 'Twalk', fid: from, newfid: fid, wnames: chunk }, options);
        if (r.qids.length < chunk.length) {
          throw new NinepError(`'${names.slice(0, i + r.qids.length + 1).join('/')}' file does not exist`);
        }
        qid = r.qids[r.qids.length - 1] ?? qid;
        from = fid;
        i += MAXWELEM;
      } while (i < names.length);
      return { fid, qid };
    } catch (e) {
      // The fid exists on the server once a chunk walked it; a later failed chunk leaves it there.
      if (from === fid) await this.clunkFid(fid).catch(() => {});
      else this.freeFids.push(fid);
      throw e;
    }
  }

  private async clunkFid(fid: number): Promise<void> {
    try {
      await this.rpc({ type: 'Tclunk', fid });
    } finally {
      this.freeFids.push(fid);
    }
  }

  async open(path: string, mode = OREAD, options: RequestOptions = {}): Promise<ClientFile> {
    const { fid } = await this.walk(path, options);
    try {
      const r = await this.rpc({ type: 'Topen', fid, mode }, options);
      return new ClientFile(this, fid, r.qid, r.iounit || this.iounit, (f) => this.clunkFid(f));
    } catch (e) {
      await this.clunkFid(fid).catch(() => {});
      throw e;
    }
  }

  /** Creates `path` (its directory must exist) and opens it with `mode`. */
  async create(path: string, perm: number, mode = OREAD, options: RequestOptions = {}): Promise<ClientFile> {
    const names = splitPath(path);
    const name = names.pop();
    if (!name) throw new Error(`cannot create '${path}': give a file name`);
    const { fid } = await this.walk(names.join('/'), options);
    try {
      const r = await this.rpc({ type: 'Tcreate', fid, name, perm, mode }, options);
      return new ClientFile(this, fid, r.qid, r.iounit || this.iounit, (f) => this.clunkFid(f));
    } catch (e) {
      await this.clunkFid(fid).catch(() => {});
      throw e;
    }
  }

  async stat(path: string, options: RequestOptions = {}): Promise<Stat> {
    const { fid } = await this.walk(path, options);
    try {
      return (await this.rpc({ type: 'Tstat', fid }, options)).stat;
    } finally {
      await this.clunkFid(fid).catch(() => {});
    }
  }

  /** Changes the given fields of `path`'s stat; the others are sent as "don't touch". */
  async wstat(path: string, change: Partial<Pick<Stat, 'name' | 'mode' | 'atime' | 'mtime' | 'length' | 'gid'>>): Promise<void> {
    const { fid } = await this.walk(path);
    try {
      await this.rpc({ type: 'Twstat', fid, stat: { ...unchangedStat(), ...change } });
    } finally {
      await this.clunkFid(fid).catch(() => {});
    }
  }

  async remove(path: string): Promise<void> {
    const { fid } = await this.walk(path);
    try {
      await this.rpc({ type: 'Tremove', fid });
    } finally {
      this.freeFids.push(fid); // remove clunks the fid, even when it fails
    }
  }

  async readFile(path: string, options: RequestOptions = {}): Promise<Buffer> {
    const f = await this.open(path, OREAD, options);
    try {
      return await f.readAll(options);
    } finally {
      await f.close().catch(() => {});
    }
  }

  /** Opens `path` for writing with truncation and writes all of `data` (one write even when empty). */
  async writeFile(path: string, data: string | Uint8Array, options: RequestOptions = {}): Promise<void> {
    const f = await this.open(path, OWRITE | OTRUNC, options);
    try {
      await f.write(data, options);
    } finally {
      await f.close();
    }
  }

  async readdir(path: string, options: RequestOptions = {}): Promise<Stat[]> {
    const data = await this.readFile(path, options);
    const stats = decodeStats(data);
    if (stats instanceof DecodeError) throw new Error(`9p: bad directory entries in ${path}: ${stats.message}`);
    return stats;
  }
}

/** An open fid with an offset of its own. */
export class ClientFile {
  offset = 0;
  private closed = false;

  constructor(
    readonly client: Client,
    readonly fid: number,
    readonly qid: Qid,
    readonly iounit: number,
    private readonly clunk: (fid: number) => Promise<void>,
  ) {}

  /** One read of at most `count` bytes at `offset`; empty at end of file. */
  async pread(offset: number, count = this.iounit, options: RequestOptions = {}): Promise<Buffer> {
    const r = await this.client.rpc({ type: 'Tread', fid: this.fid, offset: BigInt(offset), count: Math.min(count, this.iounit) }, options);
    return Buffer.from(r.data.buffer, r.data.byteOffset, r.data.length);
  }

  /** One read at the file's offset, which it advances. */
  async read(count = this.iounit, options: RequestOptions = {}): Promise<Buffer> {
    const data = await this.pread(this.offset, count, options);
    this.offset += data.length;
    return data;
  }

  /** Reads to end of file. */
  async readAll(options: RequestOptions = {}): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (;;) {
      const data = await this.read(this.iounit, options);
      if (data.length === 0) return Buffer.concat(parts);
      parts.push(data);
    }
  }

  /** Writes all of `data` at `offset` in iounit-sized Twrites (one Twrite when empty); returns bytes written. */
  async pwrite(data: string | Uint8Array, offset: number, options: RequestOptions = {}): Promise<number> {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    let done = 0;
    do {
      const chunk = bytes.subarray(done, done + this.iounit);
      const r = await this.client.rpc({ type: 'Twrite', fid: this.fid, offset: BigInt(offset + done), data: chunk }, options);
      if (r.count === 0 && chunk.length > 0) throw new Error('9p: server accepted no bytes of a write');
      done += r.count;
    } while (done < bytes.length);
    return done;
  }

  /** Writes at the file's offset, which it advances. */
  async write(data: string | Uint8Array, options: RequestOptions = {}): Promise<number> {
    const n = await this.pwrite(data, this.offset, options);
    this.offset += n;
    return n;
  }

  async stat(options: RequestOptions = {}): Promise<Stat> {
    return (await this.client.rpc({ type: 'Tstat', fid: this.fid }, options)).stat;
  }

  /** Reads until end of file, one chunk per read: for files whose reads block until there is news. */
  async *chunks(options: RequestOptions = {}): AsyncGenerator<Buffer> {
    for (;;) {
      const data = await this.read(this.iounit, options);
      if (data.length === 0) return;
      yield data;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.clunk(this.fid);
  }
}
