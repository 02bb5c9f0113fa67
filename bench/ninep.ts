/**
 * A lean raw 9P load generator for the benchmark: pre-encoded requests, one in flight per
 * connection, replies framed and decoded with the library's own parser and every reply's type
 * checked (a bench that counts Rerrors as rounds would measure nothing).
 */
import net from 'node:net';

import { IOHDRSZ, NOFID, OREAD, VERSION_9P2000 } from '../src/ninep/constants.js';
import type { Message } from '../src/ninep/messages.js';
import { DecodeError, MessageFramer, decode } from '../src/ninep/parser.js';
import { encode } from '../src/ninep/serializer.js';

export const SMALL_FILE = 'small';
export const SMALL_CONTENTS = 'hello, world\n'; // 13 bytes
export const BIG_FILE = 'big';
export const BIG_SIZE = 1 << 20;
export const MSIZE = 65536 + IOHDRSZ;

/** Deterministic, not all one byte, so a read at the wrong offset shows. */
export function bigContents(): Buffer {
  const b = Buffer.alloc(BIG_SIZE);
  for (let i = 0; i < b.length; i++) b[i] = (i * 31 + (i >>> 16)) & 0xff;
  return b;
}

/**
 * How a bench server process ends: on SIGTERM, SIGINT, or when stdin closes (the bench died),
 * through `stop`, which exits with process.exit so that `node --cpu-prof` writes its profile.
 */
export function stopWhenTold(stop: () => void): void {
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}

const TAG = 1;
const ROOT_FID = 0;
const FID = 1;

type Handler = (m: Message) => void;

function describe(m: Message): string {
  return m.type === 'Rerror' ? `Rerror '${m.ename}'` : m.type;
}

/** Throws unless `m` is a `type` reply to our one outstanding tag. */
function expect<T extends Message['type']>(m: Message, type: T): asserts m is Extract<Message, { type: T }> {
  if (m.type !== type) throw new Error(`expected ${type}, server answered ${describe(m)}`);
  if (m.tag !== TAG && type !== 'Rversion') throw new Error(`${type} for tag ${m.tag}, expected tag ${TAG}`);
}

/** One connection with at most one request outstanding. */
export class RawConn {
  private readonly framer = new MessageFramer(0xffffffff);
  private handler: Handler | null = null;
  private onFail: ((e: Error) => void) | null = null;
  private failed: Error | null = null;
  msize = 0;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => this.fail(new Error(`connection: ${e.message}`)));
    socket.on('close', () => this.fail(new Error('server closed the connection')));
  }

  /** Dials, then Tversion (offering `msize`) and Tattach of fid 0. */
  static async connect(socketPath: string, msize = MSIZE): Promise<RawConn> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(socketPath);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
    const c = new RawConn(socket);
    const v = await c.rpc(encode({ type: 'Tversion', tag: 0xffff, msize, version: VERSION_9P2000 }));
    expect(v, 'Rversion');
    if (v.version !== VERSION_9P2000) throw new Error(`server speaks ${v.version}`);
    c.msize = v.msize;
    const a = await c.rpc(encode({ type: 'Tattach', tag: TAG, fid: ROOT_FID, afid: NOFID, uname: 'bench', aname: '' }));
    expect(a, 'Rattach');
    return c;
  }

  private onData(chunk: Buffer): void {
    this.framer.push(chunk);
    for (;;) {
      const frame = this.framer.next();
      if (frame === null) return;
      const m = frame instanceof DecodeError ? frame : decode(frame);
      if (m instanceof DecodeError) return this.fail(new Error(m.toString()));
      const h = this.handler;
      if (!h) return this.fail(new Error(`unsolicited ${describe(m)}`));
      this.handler = null;
      try {
        h(m);
      } catch (e) {
        return this.fail(e instanceof Error ? e : new Error(String(e)));
      }
    }
  }

  private fail(e: Error): void {
    if (this.failed) return;
    this.failed = e;
    this.handler = null;
    const f = this.onFail;
    this.onFail = null;
    f?.(e);
  }

  /** Where a failure goes while a run is in progress. */
  failInto(f: (e: Error) => void): void {
    if (this.failed) f(this.failed);
    else this.onFail = f;
  }

  send(buf: Buffer, h: Handler): void {
    this.handler = h;
    this.socket.write(buf);
  }

  rpc(buf: Buffer): Promise<Message> {
    return new Promise((resolve, reject) => {
      this.failInto(reject);
      this.send(buf, (m) => {
        this.onFail = null;
        resolve(m);
      });
    });
  }

  close(): void {
    this.failed ??= new Error('closed');
    this.socket.destroy();
  }
}

export interface RunResult {
  rounds: number;
  bytes: number;
  seconds: number;
  /** Nanoseconds per round, when asked for. */
  latencies: number[];
}

/**
 * Runs `round` back to back on every connection until `seconds` have passed (each connection
 * finishes the round it is in); rejects on the first failure of any connection.
 */
export function runRounds(
  conns: RawConn[],
  seconds: number,
  round: (conn: RawConn, done: (bytes: number) => void) => void,
  recordLatency = false,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const latencies: number[] = [];
    let rounds = 0;
    let bytes = 0;
    let running = conns.length;
    let failed = false;
    const start = process.hrtime.bigint();
    const deadline = start + BigInt(Math.round(seconds * 1e9));
    for (const conn of conns) {
      conn.failInto((e) => {
        if (failed) return;
        failed = true;
        reject(e);
      });
      let t0 = 0n;
      const next = () => {
        t0 = process.hrtime.bigint();
        round(conn, finished);
      };
      const finished = (n: number) => {
        const t = process.hrtime.bigint();
        rounds++;
        bytes += n;
        if (recordLatency) latencies.push(Number(t - t0));
        if (failed) return;
        if (t < deadline) return next();
        if (--running === 0) resolve({ rounds, bytes, seconds: Number(process.hrtime.bigint() - start) / 1e9, latencies });
      };
      next();
    }
  });
}

/**
 * Exactly `total` rounds, spread over the connections (each starts another while any are left):
 * for measures counted per round rather than per second (bench/instructions.ts).
 */
export function runCount(conns: RawConn[], total: number, round: (conn: RawConn, done: (bytes: number) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let started = 0;
    let finished = 0;
    let failed = false;
    for (const conn of conns) {
      conn.failInto((e) => {
        if (!failed) reject(e);
        failed = true;
      });
      const next = () => {
        if (failed || started === total) return;
        started++;
        round(conn, () => {
          if (++finished === total) resolve();
          else next();
        });
      };
      next();
    }
  });
}

export async function connectAll(socketPath: string, n: number, msize = MSIZE): Promise<RawConn[]> {
  return Promise.all(Array.from({ length: n }, () => RawConn.connect(socketPath, msize)));
}

const SMALL_LEN = Buffer.byteLength(SMALL_CONTENTS);

/** walk+open+read+clunk of the small file: the messages are encoded once. */
export function smallRound(): (conn: RawConn, done: (bytes: number) => void) => void {
  const walk = encode({ type: 'Twalk', tag: TAG, fid: ROOT_FID, newfid: FID, wnames: [SMALL_FILE] });
  const open = encode({ type: 'Topen', tag: TAG, fid: FID, mode: OREAD });
  const read = encode({ type: 'Tread', tag: TAG, fid: FID, offset: 0n, count: 8192 });
  const clunk = encode({ type: 'Tclunk', tag: TAG, fid: FID });
  return (conn, done) => {
    conn.send(walk, (m) => {
      expect(m, 'Rwalk');
      if (m.qids.length !== 1) throw new Error(`Rwalk with ${m.qids.length} qids`);
      conn.send(open, (m) => {
        expect(m, 'Ropen');
        conn.send(read, (m) => {
          expect(m, 'Rread');
          if (m.data.length !== SMALL_LEN) throw new Error(`read ${m.data.length} bytes of ${SMALL_FILE}, expected ${SMALL_LEN}`);
          conn.send(clunk, (m) => {
            expect(m, 'Rclunk');
            done(SMALL_LEN);
          });
        });
      });
    });
  };
}

/**
 * walk+open, Treads of msize-IOHDRSZ bytes through the 1 MiB file to the empty read at its end,
 * clunk. `check` compares the data with the expected contents (done once, outside the timing).
 */
export function bigRound(msize: number, check: Buffer | null): (conn: RawConn, done: (bytes: number) => void) => void {
  const iounit = msize - IOHDRSZ;
  const walk = encode({ type: 'Twalk', tag: TAG, fid: ROOT_FID, newfid: FID, wnames: [BIG_FILE] });
  const open = encode({ type: 'Topen', tag: TAG, fid: FID, mode: OREAD });
  const reads: Buffer[] = [];
  for (let off = 0; off <= BIG_SIZE; off += iounit) {
    reads.push(encode({ type: 'Tread', tag: TAG, fid: FID, offset: BigInt(off), count: iounit }));
  }
  if ((reads.length - 1) * iounit < BIG_SIZE) throw new Error('internal: too few reads');
  const clunk = encode({ type: 'Tclunk', tag: TAG, fid: FID });
  return (conn, done) => {
    let got = 0;
    const readFrom = (i: number) => {
      conn.send(reads[i]!, (m) => {
        expect(m, 'Rread');
        const want = Math.min(iounit, BIG_SIZE - got);
        if (m.data.length !== want) throw new Error(`Tread at ${got} returned ${m.data.length} bytes, expected ${want}`);
        if (check && !check.subarray(got, got + want).equals(m.data)) throw new Error(`wrong data at offset ${got}`);
        got += m.data.length;
        if (m.data.length > 0) return readFrom(i + 1);
        conn.send(clunk, (m) => {
          expect(m, 'Rclunk');
          done(got);
        });
      });
    };
    conn.send(walk, (m) => {
      expect(m, 'Rwalk');
      if (m.qids.length !== 1) throw new Error(`Rwalk with ${m.qids.length} qids`);
      conn.send(open, (m) => {
        expect(m, 'Ropen');
        readFrom(0);
      });
    });
  };
}
