/**
 * A bounded fuzz run against a live server (a ramfs root on a real unix socket): at least
 * FUZZ_COUNT (default 100,000) random and mutated messages over many parallel connections, while a
 * well-behaved client keeps doing write+read round trips on a file of its own.
 *
 * Connections come in four kinds:
 *  - strict: valid-shaped messages of every T type with random fields, pipelined in batches (or
 *    one at a time, "lockstep"). Every message is accounted for: each is answered exactly once
 *    with its own tag and a matching R type, except those a Tflush or Tversion legitimately
 *    silences (flush(5), version(5)); nothing is answered after its Rflush; the server never
 *    closes such a connection. Mixed in are "episodes", scripted sessions on files of their own
 *    (create/write/read/truncate, directory listing, walks through "..", rename, stale fids)
 *    that check the answers against what they did.
 *  - mutated: valid encodings with bytes flipped, truncated, extended, size fields corrupted, and
 *    plain garbage. The test frames the bytes exactly as the server does, so it knows whether the
 *    server must close the connection (it must) or must keep it open (it must, and answer a final
 *    Tversion).
 *  - malformed: a few valid RPCs, then one message that cannot be decoded: THAT connection must be
 *    closed, and a sibling connection of the same lane must keep answering.
 * Every reply on every connection must decode and fit the msize negotiated on that connection.
 *
 * Reproduce a failure with FUZZ_SEED=<seed> (printed); FUZZ_LANES=1 also fixes the interleaving.
 * FUZZ_COUNT sets the number of messages.
 */
import assert from 'node:assert/strict';
import { constants as bufferConstants } from 'node:buffer';
import crypto from 'node:crypto';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';

import { createRamfs } from '../../examples/ramfs.js';
import { Client } from '../../src/ninep/client.js';
import {
  DMAPPEND,
  DMDIR,
  DMEXCL,
  MAXWELEM,
  MessageType,
  NOFID,
  NOTAG,
  OREAD,
  ORCLOSE,
  ORDWR,
  OTRUNC,
  OWRITE,
} from '../../src/ninep/constants.js';
import type { Message, RMessage, Stat, TMessage, Tversion } from '../../src/ninep/messages.js';
import { DONT_TOUCH, unchangedStat } from '../../src/ninep/messages.js';
import { DecodeError, MessageFramer, decode, decodeStats } from '../../src/ninep/parser.js';
import { encode } from '../../src/ninep/serializer.js';
import { serve, Wire, type Served } from '../helpers.js';

// ---------------------------------------------------------------------------------------------
// Settings

function envInt(name: string, dflt: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}=${v}: want a non-negative integer`);
  return n;
}

const SEED = process.env['FUZZ_SEED'] ? envInt('FUZZ_SEED', 0) >>> 0 : crypto.randomBytes(4).readUInt32LE(0);
const COUNT = envInt('FUZZ_COUNT', 100_000);
const LANES = Math.max(1, envInt('FUZZ_LANES', 4));
/** Lanes stop starting connections after this; the test then fails for having sent too few. */
const DEADLINE_MS = envInt('FUZZ_DEADLINE_MS', 50_000);
/** How long a request may stay unanswered before it counts as a hang. */
const REPLY_TIMEOUT_MS = 10_000;
/** Generous bounds: the process serves and fuzzes at once, and ramfs keeps what is written. */
const MAX_HEAP_GROWTH = 200 * 2 ** 20;
const MAX_RSS_GROWTH = 400 * 2 ** 20;

/** The server refuses a Tversion msize below this (version(5) leaves the floor to the server). */
const MIN_MSIZE = 256;
const IOHDRSZ = 24;
/**
 * Twrite offsets and Twstat lengths between these make ramfs allocate that much memory (it has no
 * size limit and no sparse files: see the findings below), so generated and mutated messages keep
 * out of this range. Below it is cheap; from the largest Buffer there can be on (or beyond 2^53,
 * which the server refuses) the allocation fails at once.
 */
const RAMFS_CHEAP = 256 * 1024;
const RAMFS_IMPOSSIBLE = Math.min(bufferConstants.MAX_LENGTH, Number.MAX_SAFE_INTEGER) + 1;

// ---------------------------------------------------------------------------------------------
// A seeded PRNG (mulberry32) and helpers

class Rng {
  private a: number;
  constructor(seed: number) {
    this.a = seed >>> 0;
  }
  /** [0, 1) */
  next(): number {
    this.a = (this.a + 0x6d2b79f5) | 0;
    let t = Math.imul(this.a ^ (this.a >>> 15), 1 | this.a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** [0, n) */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** [lo, hi] */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  u8(): number {
    return this.int(256);
  }
  u16(): number {
    return this.int(65536);
  }
  u32(): number {
    return (this.int(65536) * 65536 + this.int(65536)) >>> 0;
  }
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) b.writeUInt32LE(this.u32(), i);
    for (; i < n; i++) b[i] = this.u8();
    return b;
  }
}

function laneSeed(lane: number): number {
  return (SEED + Math.imul(lane + 1, 0x9e3779b9)) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Showing messages in reports

function clip(s: string, n = 40): string {
  return s.length > n ? `${s.slice(0, n)}…(${Buffer.byteLength(s)} bytes)` : s;
}

function show(m: unknown): string {
  return JSON.stringify(m, function (this: Record<string, unknown>, key: string, value: unknown) {
    const orig = key === '' ? value : this[key];
    if (typeof orig === 'bigint') return `${orig}n`;
    if (orig instanceof Uint8Array) {
      const hex = Buffer.from(orig.subarray(0, 16)).toString('hex');
      return `<${orig.length} bytes ${hex}${orig.length > 16 ? '…' : ''}>`;
    }
    if (typeof orig === 'string') return clip(orig);
    return value;
  });
}

function hex(b: Buffer, n = 96): string {
  return b.subarray(0, n).toString('hex') + (b.length > n ? `…(${b.length} bytes)` : '');
}

// ---------------------------------------------------------------------------------------------
// Findings: everything that went wrong, by kind, with the first example of each

class Findings {
  private readonly kinds = new Map<string, { count: number; first: string }>();
  /** Hangs and the like: after a few, fuzzing on only takes time. */
  severe = 0;
  add(kind: string, detail: string, severe = false): void {
    if (severe) this.severe++;
    const k = this.kinds.get(kind);
    if (k) k.count++;
    else this.kinds.set(kind, { count: 1, first: detail });
  }
  get size(): number {
    return this.kinds.size;
  }
  report(): string {
    return [...this.kinds]
      .map(([kind, { count, first }]) => `- ${kind} (${count}x); first:\n    ${first.replaceAll('\n', '\n    ')}`)
      .join('\n');
  }
}

// ---------------------------------------------------------------------------------------------
// Random valid-shaped T-messages

const SHORT_NAMES = [
  'a', 'b', 'c', 'd', 'dir', 'sub', 'f.txt', 'a', 'b', 'dir',
  '..', '.', '', '/', 'a/b', 'x\0y', 'é', 'ünïcödé', '日本語', '😀', ' ', '-', 'A',
];
const CHARS = ['a', 'z', '0', '.', '-', '_', ' ', '/', '\0', 'é', 'ß', '日', '😀', '\u0800', '\uffff', '\ud800', '\u200b'];
const CHAR_BYTES = CHARS.map((c) => Buffer.byteLength(c));
const VERSIONS = ['9P2000', '9P2000', '9P2000.L', '9P2000.u', '9P2000.', '9P', '', 'unknown', '9P2000\0', '9p2000', '9P2000 '];
const MODES = [0, 1, 2, 3];
const PERMS = [0o666, 0o777, 0o644, 0o600, 0o444, 0o222, 0o111, 0, 0o7777];

type Weighted<T> = readonly (readonly [T, number])[];
const T_WEIGHTS: Weighted<TMessage['type']> = [
  ['Twalk', 18],
  ['Topen', 10],
  ['Tcreate', 10],
  ['Tread', 12],
  ['Twrite', 12],
  ['Tclunk', 8],
  ['Tremove', 4],
  ['Tstat', 6],
  ['Twstat', 9],
  ['Tflush', 5],
  ['Tattach', 4],
  ['Tauth', 2],
  ['Tversion', 0.15],
];

function weighted<T>(rng: Rng, items: Weighted<T>): T {
  let total = 0;
  for (const [, w] of items) total += w;
  let r = rng.next() * total;
  for (const [v, w] of items) {
    r -= w;
    if (r < 0) return v;
  }
  return items[items.length - 1]![0];
}

/** What the generator guesses a fid is, assuming its requests succeed. */
interface FidGuess {
  open: boolean;
}

const PLAIN_NAMES = ['a', 'b', 'c', 'dir', 'sub', 'f.txt', '..'];

class Gen {
  /** The fids of the current connection as the generator imagines them. */
  private readonly fids = new Map<number, FidGuess>();

  constructor(readonly rng: Rng) {}

  /** A new connection: no fids. */
  reset(): void {
    this.fids.clear();
  }

  /** Updates the guessed fids as if `m`, about to be sent, succeeds. Episodes' fids are theirs alone. */
  saw(m: TMessage): void {
    if ('fid' in m && m.fid >= ROOT_FID && m.fid !== NOFID) return;
    switch (m.type) {
      case 'Tversion':
        this.fids.clear();
        break;
      case 'Tattach':
        if (m.afid === NOFID && !this.fids.has(m.fid)) this.fids.set(m.fid, { open: false });
        break;
      case 'Twalk':
        if (this.fids.get(m.fid)?.open === false && (m.newfid === m.fid || !this.fids.has(m.newfid))) this.fids.set(m.newfid, { open: false });
        break;
      case 'Topen':
      case 'Tcreate': {
        const f = this.fids.get(m.fid);
        if (f) f.open = true;
        break;
      }
      case 'Tclunk':
      case 'Tremove':
        this.fids.delete(m.fid);
        break;
      default:
        break;
    }
  }

  private known(open: boolean | null): number | undefined {
    const candidates = [...this.fids].filter(([, f]) => open === null || f.open === open).map(([n]) => n);
    return candidates.length > 0 ? this.rng.pick(candidates) : undefined;
  }

  private freeFid(): number {
    for (let i = 0; i < 4; i++) {
      const n = this.rng.int(16);
      if (!this.fids.has(n)) return n;
    }
    return this.rng.int(16);
  }

  /** A message that would likely succeed, given the guessed fids; null if there is none to make. */
  private plausible(tags: readonly number[]): TMessage | null {
    const r = this.rng;
    const tag = 0;
    const closed = this.known(false);
    const open = this.known(true);
    const any = this.known(null);
    const choice = r.int(100);
    if (closed === undefined && any === undefined) {
      return { type: 'Tattach', tag, fid: this.freeFid(), afid: NOFID, uname: 'fuzz', aname: '' };
    }
    if (choice < 22 && closed !== undefined) {
      const n = r.chance(0.3) ? 0 : 1 + r.int(3);
      const wnames = Array.from({ length: n }, () => r.pick(PLAIN_NAMES));
      return { type: 'Twalk', tag, fid: closed, newfid: r.chance(0.15) ? closed : this.freeFid(), wnames };
    }
    if (choice < 34 && closed !== undefined) {
      const perm = r.chance(0.3) ? (DMDIR | 0o777) >>> 0 : r.chance(0.1) ? (DMAPPEND | 0o666) >>> 0 : 0o666;
      const mode = perm & DMDIR ? OREAD : r.pick([0, 1, 2, 1 | OTRUNC, 2 | ORCLOSE]);
      return { type: 'Tcreate', tag, fid: closed, name: r.pick(PLAIN_NAMES.slice(0, 6)), perm, mode };
    }
    if (choice < 46 && closed !== undefined) {
      return { type: 'Topen', tag, fid: closed, mode: r.pick([0, 0, 1, 2, 2, 1 | OTRUNC, 0 | ORCLOSE]) };
    }
    if (choice < 60 && open !== undefined) {
      const count = r.pick([r.int(200), 8168, r.int(20000)]);
      return { type: 'Tread', tag, fid: open, offset: r.chance(0.5) ? 0n : this.offset(), count };
    }
    if (choice < 74 && open !== undefined) {
      return { type: 'Twrite', tag, fid: open, offset: this.offset(), data: r.bytes(r.int(r.chance(0.9) ? 200 : 8000)) };
    }
    if (choice < 80 && any !== undefined) return { type: 'Tclunk', tag, fid: any };
    if (choice < 84 && any !== undefined) return { type: 'Tremove', tag, fid: any };
    if (choice < 89 && any !== undefined) return { type: 'Tstat', tag, fid: any };
    if (choice < 96 && any !== undefined) {
      const stat = unchangedStat();
      const what = r.int(5);
      if (what === 0) stat.name = r.pick(PLAIN_NAMES);
      else if (what === 1) stat.length = BigInt(r.int(5000));
      else if (what === 2) stat.mode = r.pick([0o666, 0o644, 0o444, 0o222, (DMAPPEND | 0o666) >>> 0, (DMDIR | 0o775) >>> 0]);
      else if (what === 3) stat.mtime = r.u32();
      else stat.gid = r.pick(['g', 'wheel', '']);
      return { type: 'Twstat', tag, fid: any, stat };
    }
    if (tags.length > 0) return { type: 'Tflush', tag, oldtag: r.pick(tags) };
    return null;
  }

  /** A random string of at most `max` UTF-8 bytes (lone surrogates included: they encode as U+FFFD). */
  text(max: number): string {
    const r = this.rng;
    const target = Math.min(max, r.chance(0.8) ? r.int(Math.min(max, 300) + 1) : r.int(max + 1));
    const parts: string[] = [];
    let n = 0;
    const ascii = r.chance(0.4);
    for (;;) {
      const i = ascii ? r.int(8) : r.int(CHARS.length);
      if (n + CHAR_BYTES[i]! > target) break;
      parts.push(CHARS[i]!);
      n += CHAR_BYTES[i]!;
    }
    return parts.join('');
  }

  name(max: number): string {
    const r = this.rng;
    if (r.chance(0.88)) {
      const n = r.pick(SHORT_NAMES);
      if (Buffer.byteLength(n) <= max) return n;
    }
    return this.text(max);
  }

  fid(): number {
    const r = this.rng.next();
    if (r < 0.75) return this.rng.int(8);
    if (r < 0.85) return this.rng.int(64);
    if (r < 0.93) return this.rng.u32();
    return NOFID;
  }

  offset(): bigint {
    const r = this.rng.next();
    if (r < 0.7) return BigInt(this.rng.int(64));
    if (r < 0.85) return BigInt(this.rng.int(16384));
    if (r < 0.9) return BigInt(this.rng.int(65536));
    return this.rng.pick([
      2n ** 53n - 1n,
      2n ** 53n,
      2n ** 53n + 1n,
      2n ** 63n,
      2n ** 64n - 1n,
      BigInt(RAMFS_IMPOSSIBLE),
      BigInt(RAMFS_IMPOSSIBLE) + BigInt(this.rng.u32()),
    ]);
  }

  count(): number {
    return this.rng.pick([0, 1, 13, this.rng.int(100), this.rng.int(9000), 8168, 65536, this.rng.u32(), 0xffffffff]);
  }

  openMode(): number {
    const r = this.rng;
    if (r.chance(0.25)) return r.u8();
    return r.pick(MODES) | (r.chance(0.15) ? OTRUNC : 0) | (r.chance(0.1) ? ORCLOSE : 0);
  }

  perm(): number {
    const r = this.rng;
    let p = r.chance(0.1) ? r.u32() : r.pick(PERMS);
    if (r.chance(0.3)) p |= DMDIR;
    if (r.chance(0.1)) p |= DMAPPEND;
    if (r.chance(0.05)) p |= DMEXCL;
    return p >>> 0;
  }

  stat(max: number): Stat {
    const r = this.rng;
    const st = unchangedStat();
    if (r.chance(0.1)) st.type = r.chance(0.5) ? 0 : r.u16();
    if (r.chance(0.1)) st.dev = r.chance(0.5) ? 0 : r.u32();
    if (r.chance(0.1)) st.qid = { type: r.u8(), version: r.u32(), path: r.chance(0.5) ? BigInt(r.int(64)) : r.u64() };
    if (r.chance(0.35)) {
      st.mode = r.chance(0.2) ? r.u32() : (r.pick(PERMS) | (r.chance(0.3) ? DMDIR : 0) | (r.chance(0.1) ? DMAPPEND : 0)) >>> 0;
    }
    if (r.chance(0.2)) st.atime = r.u32();
    if (r.chance(0.2)) st.mtime = r.u32();
    if (r.chance(0.3)) {
      st.length = r.chance(0.8)
        ? BigInt(r.int(r.chance(0.8) ? 64 : 65536))
        : r.pick([2n ** 53n, 2n ** 64n - 2n, BigInt(RAMFS_IMPOSSIBLE), 2n ** 60n]);
    }
    const room = Math.max(0, max - 60);
    if (r.chance(0.4)) st.name = this.name(room >> 1);
    if (r.chance(0.1)) st.uid = r.chance(0.5) ? 'u' : this.text(room >> 3);
    if (r.chance(0.2)) st.gid = r.chance(0.5) ? 'g' : this.text(room >> 2);
    if (r.chance(0.1)) st.muid = this.text(room >> 3);
    return st;
  }

  tversion(): Omit<Tversion, 'tag'> {
    const r = this.rng;
    const msize = r.pick([
      8192, 8192, 256, 255, 0, 1, 7, 300, 1000, 4096, 65560, 65536, 1 << 20, 0xffffffff, r.int(70000), 256 + r.int(8000),
    ]);
    const version = r.chance(0.9) ? r.pick(VERSIONS) : this.text(100);
    return { type: 'Tversion', msize, version };
  }

  /** A random T-message whose encoding fits `maxSize`. `tags` are the batch's tags so far (for Tflush). */
  message(maxSize: number, tags: readonly number[], allowVersion = true): TMessage {
    let m = this.rng.chance(0.6) ? this.plausible(tags) : null;
    if (m === null || encodedSize(m) > maxSize) m = this.random(maxSize, tags, allowVersion);
    return m;
  }

  /** Any valid-shaped message, fields at random. */
  private random(maxSize: number, tags: readonly number[], allowVersion: boolean): TMessage {
    const r = this.rng;
    // Up to the largest string there is: a stat entry of a name this long no longer encodes.
    const room = Math.max(0, Math.min(maxSize - 40, 65500));
    const tag = 0;
    let type = weighted(r, T_WEIGHTS);
    if (type === 'Tversion' && !allowVersion) type = 'Tstat';
    let m: TMessage;
    switch (type) {
      case 'Tversion':
        m = { ...this.tversion(), tag };
        break;
      case 'Tauth':
        m = { type, tag, afid: this.fid(), uname: this.name(room >> 1), aname: this.name(room >> 1) };
        break;
      case 'Tattach':
        m = {
          type,
          tag,
          fid: this.fid(),
          afid: r.chance(0.85) ? NOFID : r.pick([0, 1, r.u32()]),
          uname: r.chance(0.8) ? 'fuzz' : this.text(room >> 2),
          aname: r.chance(0.8) ? '' : this.name(room >> 2),
        };
        break;
      case 'Tflush':
        m = { type, tag, oldtag: tags.length > 0 && r.chance(0.7) ? r.pick(tags) : r.u16() };
        break;
      case 'Twalk': {
        const n = r.chance(0.6) ? r.int(3) : r.int(MAXWELEM + 1);
        const each = n === 0 ? 0 : Math.floor((room - 2 * n) / n);
        const wnames: string[] = [];
        for (let i = 0; i < n; i++) wnames.push(this.name(Math.max(0, each)));
        const fid = this.fid();
        m = { type, tag, fid, newfid: r.chance(0.2) ? fid : this.fid(), wnames };
        break;
      }
      case 'Topen':
        m = { type, tag, fid: this.fid(), mode: this.openMode() };
        break;
      case 'Tcreate':
        m = { type, tag, fid: this.fid(), name: this.name(room), perm: this.perm(), mode: this.openMode() };
        break;
      case 'Tread':
        m = { type, tag, fid: this.fid(), offset: r.chance(0.9) ? this.offset() : r.u64(), count: this.count() };
        break;
      case 'Twrite': {
        const len = r.chance(0.8) ? r.int(65) : r.int(Math.max(1, maxSize - 23));
        m = { type, tag, fid: this.fid(), offset: this.offset(), data: r.bytes(len) };
        break;
      }
      case 'Tclunk':
      case 'Tremove':
      case 'Tstat':
        m = { type, tag, fid: this.fid() };
        break;
      case 'Twstat':
        m = { type, tag, fid: this.fid(), stat: this.stat(room) };
        break;
    }
    if (encodedSize(m) > maxSize) return { type: 'Tclunk', tag, fid: this.fid() };
    return m;
  }
}

function encodedSize(m: TMessage): number {
  return encode(m).length;
}

function withTag(m: TMessage | Omit<TMessage, 'tag'>, tag: number): TMessage {
  return { ...m, tag } as TMessage;
}

// ---------------------------------------------------------------------------------------------
// Episodes: short scripted sessions that react to the replies, run many at a time on a strict
// connection (one step of each per batch, so that dependent requests are never in flight
// together). They work on files with names no one else uses, so they can check what they read.

/** A script: yields requests (tag ignored), receives each reply, or undefined when there is none. */
type Episode = Generator<TMessage, void, RMessage | undefined>;

/** Fid numbers from here up belong to episodes; random messages almost never name them. */
const ROOT_FID = 1000;

interface EpisodeCtx {
  rng: Rng;
  /** A fid no other episode of the connection uses. */
  fid(): number;
  /** A file name no other episode, connection or lane uses. */
  unique(): string;
  /** The msize replies now use. */
  msize(): number;
  /** Reports a wrong answer. */
  bad(kind: string, detail: string): void;
}

/** The reply if it has the wanted type. */
function got<T extends RMessage['type']>(r: RMessage | undefined, type: T): Extract<RMessage, { type: T }> | null {
  return r?.type === type ? (r as Extract<RMessage, { type: T }>) : null;
}

/** An Rerror that interference explains: the fid vanished (a Tversion), or the root's mode was changed. */
function interfered(r: RMessage | undefined): boolean {
  return r === undefined || (r.type === 'Rerror' && /unknown fid|permission denied|botch/.test(r.ename));
}

/** Tcreate; when the fuzzers have made the root unwritable (anyone may chmod it here), restore it and retry once. */
function* create(fid: number, name: string, perm: number, mode: number): Generator<TMessage, Extract<RMessage, { type: 'Rcreate' }> | null, RMessage | undefined> {
  for (let i = 0; ; i++) {
    const r = yield { type: 'Tcreate', tag: 0, fid, name, perm, mode };
    const cr = got(r, 'Rcreate');
    if (cr || i > 0 || !(r?.type === 'Rerror' && /permission denied/.test(r.ename))) return cr;
    yield { type: 'Twstat', tag: 0, fid: ROOT_FID, stat: { ...unchangedStat(), mode: (DMDIR | 0o777) >>> 0 } };
  }
}

/** What a ramfs file must hold, from the writes and truncations acknowledged so far. */
class Contents {
  data = Buffer.alloc(0);
  write(at: number, bytes: Uint8Array): void {
    if (at + bytes.length > this.data.length) this.truncate(at + bytes.length);
    this.data.set(bytes, at);
  }
  truncate(n: number): void {
    const next = Buffer.alloc(n);
    this.data.copy(next, 0, 0, Math.min(n, this.data.length));
    this.data = next;
  }
}

/** Create a file, then write, read, stat and truncate it at random, checking every answer. */
function* fileEpisode(c: EpisodeCtx): Episode {
  const { rng } = c;
  const f = c.fid();
  const name = c.unique();
  if (!got(yield { type: 'Twalk', tag: 0, fid: ROOT_FID, newfid: f, wnames: [] }, 'Rwalk')) return;
  const append = rng.chance(0.15);
  const perm = ((append ? DMAPPEND : 0) | rng.pick([0o666, 0o600, 0o644])) >>> 0;
  const mode = rng.chance(0.2) ? ORDWR | ORCLOSE : ORDWR;
  const created = yield* create(f, name, perm, mode);
  if (!created) return;
  const file = new Contents();
  const trace = [`Tcreate ${name} perm ${perm.toString(8)} mode ${mode}`];
  const fail = (kind: string, detail: string) => c.bad(kind, `${detail}; episode: ${trace.slice(-8).join(', ')}`);
  for (let steps = 2 + rng.int(12); steps > 0; steps--) {
    const op = rng.int(10);
    if (op < 4) {
      const offset = rng.chance(0.5) ? file.data.length : rng.int(file.data.length + 2000);
      const data = rng.bytes(rng.chance(0.9) ? rng.int(600) : rng.int(c.msize() - IOHDRSZ));
      trace.push(`Twrite ${data.length} at ${offset}`);
      const r = yield { type: 'Twrite', tag: 0, fid: f, offset: BigInt(offset), data };
      const w = got(r, 'Rwrite');
      if (!w) {
        if (!interfered(r)) fail('a write to an open ramfs file failed', show(r));
        return;
      }
      if (w.count !== data.length) fail('ramfs wrote less than asked', `${w.count} of ${data.length}`);
      file.write(append ? file.data.length : offset, data.subarray(0, w.count));
    } else if (op < 7) {
      const offset = rng.int(file.data.length + 50);
      const count = rng.pick([rng.int(100), rng.int(4000), 8168, 0xffffffff]);
      trace.push(`Tread ${count} at ${offset}`);
      const r = yield { type: 'Tread', tag: 0, fid: f, offset: BigInt(offset), count };
      const rd = got(r, 'Rread');
      if (!rd) {
        if (!interfered(r)) fail('a read of an open ramfs file failed', show(r));
        return;
      }
      const want = file.data.subarray(offset, offset + Math.min(count, c.msize() - IOHDRSZ));
      if (!Buffer.from(rd.data).equals(want)) {
        fail('a ramfs read returned other bytes than were written', `read ${count} at ${offset}: got ${hex(Buffer.from(rd.data), 32)}, want ${hex(want, 32)}`);
        return;
      }
    } else if (op < 8) {
      trace.push('Tstat');
      const r = yield { type: 'Tstat', tag: 0, fid: f };
      const st = got(r, 'Rstat');
      if (!st) {
        if (!interfered(r)) fail('a stat of an open ramfs file failed', show(r));
        return;
      }
      if (st.stat.length !== BigInt(file.data.length) || st.stat.name !== name || st.stat.qid.path !== created.qid.path) {
        fail('stat disagrees with what was done to the file', `${show(st.stat)}, want length ${file.data.length}`);
        return;
      }
    } else {
      const length = rng.int(file.data.length + 1000);
      trace.push(`Twstat length ${length}`);
      const r = yield { type: 'Twstat', tag: 0, fid: f, stat: { ...unchangedStat(), length: BigInt(length) } };
      if (!got(r, 'Rwstat')) {
        if (!interfered(r)) fail('truncating an open ramfs file failed', show(r));
        return;
      }
      file.truncate(length);
    }
  }
  const removeIt = rng.chance(0.5);
  const end = yield removeIt ? { type: 'Tremove', tag: 0, fid: f } : { type: 'Tclunk', tag: 0, fid: f };
  if (!end || end.type === 'Rerror') return;
  const g = c.fid();
  const after = yield { type: 'Twalk', tag: 0, fid: ROOT_FID, newfid: g, wnames: [name] };
  const gone = removeIt || (mode & ORCLOSE) !== 0;
  if (gone && got(after, 'Rwalk')) fail('a removed file can still be walked to', `${removeIt ? 'Tremove' : 'ORCLOSE and Tclunk'} of ${name}`);
  if (!gone && after?.type === 'Rerror' && !interfered(after)) fail('a clunked file vanished', show(after));
  if (got(after, 'Rwalk')) yield { type: 'Tremove', tag: 0, fid: g };
}

/** Read the root directory from start to end: every chunk must be whole stat entries. */
function* listEpisode(c: EpisodeCtx): Episode {
  const { rng } = c;
  const f = c.fid();
  if (!got(yield { type: 'Twalk', tag: 0, fid: ROOT_FID, newfid: f, wnames: [] }, 'Rwalk')) return;
  if (!got(yield { type: 'Topen', tag: 0, fid: f, mode: OREAD }, 'Ropen')) return;
  let offset = 0;
  for (let i = 0; i < 30; i++) {
    const count = rng.chance(0.7) ? c.msize() - IOHDRSZ : 100 + rng.int(3000);
    const r = yield { type: 'Tread', tag: 0, fid: f, offset: BigInt(offset), count };
    const rd = got(r, 'Rread');
    if (!rd) {
      // Too small a count for the next entry is the client's problem; anything else is not.
      if (!interfered(r) && !(r?.type === 'Rerror' && /too small/.test(r.ename))) {
        c.bad('reading the root directory failed', `${show(r)} at offset ${offset}, count ${count}`);
      }
      return;
    }
    if (rd.data.length === 0) break;
    const stats = decodeStats(Buffer.from(rd.data));
    if (stats instanceof DecodeError) {
      c.bad('a directory read returned bytes that are not whole stat entries', `${stats.message} at offset ${offset}`);
      return;
    }
    offset += rd.data.length;
  }
  yield { type: 'Tclunk', tag: 0, fid: f };
}

/** A directory of its own: create in it, walk through it and through "..", remove it. */
function* treeEpisode(c: EpisodeCtx): Episode {
  const root = got(yield { type: 'Tstat', tag: 0, fid: ROOT_FID }, 'Rstat');
  if (!root) return;
  const dir = c.unique();
  const file = c.unique();
  const d = c.fid();
  if (!got(yield { type: 'Twalk', tag: 0, fid: ROOT_FID, newfid: d, wnames: [] }, 'Rwalk')) return;
  const dq = yield* create(d, dir, (DMDIR | 0o777) >>> 0, OREAD);
  if (!dq) return;
  if ((dq.qid.type & 0x80) === 0) c.bad('a directory was created without QTDIR', show(dq));
  const e = c.fid();
  if (!got(yield { type: 'Twalk', tag: 0, fid: ROOT_FID, newfid: e, wnames: [dir] }, 'Rwalk')) return;
  const fq = got(yield { type: 'Tcreate', tag: 0, fid: e, name: file, perm: 0o666, mode: OWRITE }, 'Rcreate');
  if (!fq) return;
  const g = c.fid();
  const wnames = [dir, '..', dir, '..', '..', dir, file];
  const r = yield { type: 'Twalk', tag: 0, fid: ROOT_FID, newfid: g, wnames };
  const w = got(r, 'Rwalk');
  if (!w) {
    if (!interfered(r)) c.bad('a walk through a new directory and ".." failed', `${show(r)} for ${show(wnames)}`);
    return;
  }
  const want = [dq.qid.path, root.stat.qid.path, dq.qid.path, root.stat.qid.path, root.stat.qid.path, dq.qid.path, fq.qid.path];
  if (w.qids.map((q) => q.path).join() !== want.join()) {
    c.bad('a walk through ".." went astray', `qid paths ${w.qids.map((q) => q.path).join()} for ${want.join()}`);
  }
  const nonEmpty = yield { type: 'Tremove', tag: 0, fid: d };
  if (got(nonEmpty, 'Rremove')) c.bad('a directory with a file in it was removed', show(nonEmpty));
  if (!got(yield { type: 'Tremove', tag: 0, fid: g }, 'Rremove')) return;
  const h = c.fid();
  if (!got(yield { type: 'Twalk', tag: 0, fid: ROOT_FID, newfid: h, wnames: [dir] }, 'Rwalk')) return;
  const rm = yield { type: 'Tremove', tag: 0, fid: h };
  if (rm?.type === 'Rerror' && !interfered(rm)) c.bad('an emptied directory could not be removed', show(rm));
  yield { type: 'Tclunk', tag: 0, fid: e };
}

/** Rename a file with Twstat; the old name must be gone, the new one the same file. */
function* renameEpisode(c: EpisodeCtx): Episode {
  const { rng } = c;
  const a = c.fid();
  const from = c.unique();
  const to = c.unique();
  if (!got(yield { type: 'Twalk', tag: 0, fid: ROOT_FID, newfid: a, wnames: [] }, 'Rwalk')) return;
  const cq = yield* create(a, from, 0o666, ORDWR);
  if (!cq) return;
  const data = rng.bytes(1 + rng.int(100));
  if (!got(yield { type: 'Twrite', tag: 0, fid: a, offset: 0n, data }, 'Rwrite')) return;
  const r = yield { type: 'Twstat', tag: 0, fid: a, stat: { ...unchangedStat(), name: to } };
  if (!got(r, 'Rwstat')) {
    if (!interfered(r)) c.bad('renaming a file failed', show(r));
    return;
  }
  const b = c.fid();
  const old = yield { type: 'Twalk', tag: 0, fid: ROOT_FID, newfid: b, wnames: [from] };
  if (got(old, 'Rwalk')) c.bad('a renamed file is still there under its old name', `${from} -> ${to}`);
  const nr = yield { type: 'Twalk', tag: 0, fid: ROOT_FID, newfid: b, wnames: [to] };
  const now = got(nr, 'Rwalk');
  if (!now) {
    if (!interfered(nr)) c.bad('a renamed file is not there under its new name', `${from} -> ${to}: ${show(nr)}`);
    return;
  }
  if (now.qids[0]?.path !== cq.qid.path) c.bad('the new name leads to another file', `${show(now)} for ${show(cq)}`);
  const back = got(yield { type: 'Tread', tag: 0, fid: a, offset: 0n, count: 200 }, 'Rread');
  if (back && !Buffer.from(back.data).equals(data)) c.bad('a renamed file lost its contents', `${hex(Buffer.from(back.data))} vs ${hex(data)}`);
  yield { type: 'Tremove', tag: 0, fid: b };
  yield { type: 'Tclunk', tag: 0, fid: a };
}

/**
 * A fid left on a removed file, and a new file of the same name: what is done through the stale
 * fid must not touch the new file.
 */
function* staleEpisode(c: EpisodeCtx): Episode {
  const { rng } = c;
  const name = c.unique();
  const a = c.fid();
  const b = c.fid();
  const n = c.fid();
  if (!got(yield { type: 'Twalk', tag: 0, fid: ROOT_FID, newfid: a, wnames: [] }, 'Rwalk')) return;
  if (!(yield* create(a, name, 0o666, ORDWR))) return;
  if (!got(yield { type: 'Twalk', tag: 0, fid: ROOT_FID, newfid: b, wnames: [name] }, 'Rwalk')) return;
  if (!got(yield { type: 'Tremove', tag: 0, fid: a }, 'Rremove')) return;
  if (!got(yield { type: 'Twalk', tag: 0, fid: ROOT_FID, newfid: n, wnames: [] }, 'Rwalk')) return;
  const fresh = yield* create(n, name, 0o666, ORDWR);
  if (!fresh) return;
  const data = Buffer.from(`the new ${name}`);
  if (!got(yield { type: 'Twrite', tag: 0, fid: n, offset: 0n, data }, 'Rwrite')) return;
  const op = rng.int(3);
  const stale: TMessage =
    op === 0
      ? { type: 'Twstat', tag: 0, fid: b, stat: { ...unchangedStat(), name: c.unique() } }
      : op === 1
        ? { type: 'Tremove', tag: 0, fid: b }
        : { type: 'Twstat', tag: 0, fid: b, stat: { ...unchangedStat(), length: 0n } };
  const sr = yield stale;
  if (sr === undefined) return;
  const g = c.fid();
  const r = yield { type: 'Twalk', tag: 0, fid: ROOT_FID, newfid: g, wnames: [name] };
  const w = got(r, 'Rwalk');
  const back = got(yield { type: 'Tread', tag: 0, fid: n, offset: 0n, count: 200 }, 'Rread');
  const what = `create ${name}, walk fid B to it, remove it, create ${name} again and write to it, then ${show(stale)} on B (${show(sr)})`;
  if (!w && !interfered(r)) c.bad('an operation on the stale fid of a removed file removed the new file of that name', `${what}: walk to ${name} now gives ${show(r)}`);
  else if (w && w.qids[0]?.path !== fresh.qid.path) c.bad('an operation on the stale fid of a removed file replaced the new file of that name', what);
  if (back && !Buffer.from(back.data).equals(data)) c.bad('an operation on the stale fid of a removed file changed the new file of that name', `${what}: it now holds ${hex(Buffer.from(back.data))}`);
  yield { type: 'Tremove', tag: 0, fid: n };
}

/** A string of `n` UTF-8 bytes, mostly 2-byte characters, so that cutting it may split one. */
function wide(rng: Rng, n: number): string {
  const odd = n % 2 === 1;
  return (odd ? 'x' : '') + (rng.chance(0.5) ? 'é' : 'ß').repeat(Math.floor(n / 2));
}

/**
 * Names as long as the msize allows: the stat of such a file, and the Rerror that quotes a name
 * that long, must still fit the msize (the server trims error texts; stats it cannot trim).
 */
function* longNameEpisode(c: EpisodeCtx): Episode {
  const { rng } = c;
  const msize = c.msize();
  const f = c.fid();
  const prefix = `${c.unique()}.`;
  // Tcreate: size[4] type[1] tag[2] fid[4] name[2+n] perm[4] mode[1]
  // (A 9P string holds at most 65535 bytes; near that, the stat entry no longer fits its size[2].)
  const name = prefix + wide(rng, Math.min(msize - 18, 0xffff) - Buffer.byteLength(prefix) - rng.int(30));
  if (!got(yield { type: 'Twalk', tag: 0, fid: ROOT_FID, newfid: f, wnames: [] }, 'Rwalk')) return;
  if (yield* create(f, name, 0o666, ORDWR)) {
    yield { type: 'Tstat', tag: 0, fid: f };
    yield { type: 'Tremove', tag: 0, fid: f };
  }
  // Twalk: size[4] type[1] tag[2] fid[4] newfid[4] nwname[2] wname[2+n]
  const missing = prefix + wide(rng, Math.min(msize - 19, 0xffff) - Buffer.byteLength(prefix) - rng.int(12));
  yield { type: 'Twalk', tag: 0, fid: ROOT_FID, newfid: c.fid(), wnames: [missing] };
  yield { type: 'Tcreate', tag: 0, fid: ROOT_FID, name: `/${missing.slice(1)}`, perm: 0o666, mode: OREAD };
}

const EPISODES: Weighted<(c: EpisodeCtx) => Episode> = [
  [longNameEpisode, 1],
  [fileEpisode, 10],
  [listEpisode, 2],
  [treeEpisode, 3],
  [renameEpisode, 3],
  [staleEpisode, 2],
];

// ---------------------------------------------------------------------------------------------
// The server as the test sees it: framing exactly as the server's Connection frames its input

/**
 * Mirrors the server's input side: a MessageFramer whose limit follows each Tversion, a
 * connection closed at the first frame that does not decode or is not a T-message. `feed` is pure:
 * it returns the state after `chunk` without changing this one.
 */
class SimInput {
  constructor(
    readonly pending: Buffer,
    readonly maxSize: number,
  ) {}

  feed(chunk: Buffer): {
    next: SimInput;
    dead: string | null;
    frames: Message[];
    dangerous: string | null;
    throws: string | null;
  } {
    let p = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let maxSize = this.maxSize;
    const frames: Message[] = [];
    let dead: string | null = null;
    let dangerous: string | null = null;
    let throws: string | null = null;
    while (p.length >= 4) {
      const size = p.readUInt32LE(0);
      if (size < 7) {
        dead = `size field ${size} is shorter than a header`;
        break;
      }
      if (size > maxSize) {
        dead = `size field ${size} exceeds msize ${maxSize}`;
        break;
      }
      if (p.length < size) break;
      const frame = p.subarray(0, size);
      p = p.subarray(size);
      let m: Message | DecodeError;
      try {
        m = decode(frame);
      } catch (e) {
        throws = `decode threw ${String(e)} on ${hex(frame)}`;
        break;
      }
      if (m instanceof DecodeError) {
        dead = `${m.message}: ${hex(frame)}`;
        break;
      }
      if (m.type[0] !== 'T') {
        dead = `client sent ${m.type}`;
        break;
      }
      frames.push(m);
      if (m.type === 'Tversion' && m.msize >= MIN_MSIZE) maxSize = Math.min(m.msize, SERVER_MSIZE);
      dangerous ??= costly(m);
    }
    return { next: new SimInput(dead ? Buffer.alloc(0) : Buffer.from(p), maxSize), dead, frames, dangerous, throws };
  }
}

/** Would ramfs allocate a lot of memory for this? (See RAMFS_CHEAP.) */
function costly(m: Message): string | null {
  const big = (n: bigint) => n > BigInt(RAMFS_CHEAP) && n <= BigInt(RAMFS_IMPOSSIBLE);
  if (m.type === 'Twrite' && big(m.offset + BigInt(m.data.length))) return `Twrite at offset ${m.offset}`;
  if (m.type === 'Twstat' && m.stat.length !== DONT_TOUCH.u64 && big(m.stat.length)) return `Twstat length ${m.stat.length}`;
  return null;
}

let SERVER_MSIZE = 65536 + IOHDRSZ;

// ---------------------------------------------------------------------------------------------
// A raw connection that checks every reply

interface Where {
  lane: number;
  conn: number;
  kind: string;
}

function where(w: Where): string {
  return `lane ${w.lane} (seed ${laneSeed(w.lane)}) connection #${w.conn} (${w.kind})`;
}

class RawConn {
  private readonly framer = new MessageFramer(0xffffffff);
  /** The msize the server now answers within: the last Rversion's, or its own before any. */
  msize = SERVER_MSIZE;
  /** Whether the last Tversion answered succeeded (requests before any get "protocol botch"). */
  versioned = false;
  closed = false;
  readonly done: Promise<void>;
  /** Each reply; null once the connection has closed. */
  onReply: ((m: RMessage | null) => void) | null = null;
  /** The request a reply answers, where the test knows it. */
  requestFor: ((tag: number) => TMessage | undefined) | null = null;
  /** What went out last (messages, or descriptions of raw bytes), for reports. */
  readonly recent: (TMessage | string)[] = [];

  private constructor(
    readonly socket: net.Socket,
    readonly at: Where,
    private readonly findings: Findings,
    private readonly tally: Map<string, number>,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {});
    this.done = new Promise((resolve) => socket.once('close', () => resolve()));
    void this.done.then(() => {
      this.closed = true;
      this.onReply?.(null);
    });
  }

  static connect(path: string, at: Where, findings: Findings, tally: Map<string, number>): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = net.connect(path);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new RawConn(s, at, findings, tally));
      });
      s.once('error', reject);
    });
  }

  note(s: TMessage | string): void {
    this.recent.push(s);
    if (this.recent.length > 8) this.recent.shift();
  }

  send(b: Buffer): void {
    if (!this.closed) this.socket.write(b);
  }

  close(): void {
    this.socket.destroy();
  }

  /** Whether the server closes the connection within `ms`. */
  closedWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      this.done.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
    ]).finally(() => clearTimeout(timer));
  }

  context(): string {
    return `${where(this.at)}; last sent:\n  ${this.recent.map((m) => (typeof m === 'string' ? m : show(m))).join('\n  ')}`;
  }

  private onData(chunk: Buffer): void {
    this.framer.push(chunk);
    for (;;) {
      const f = this.framer.next();
      if (f === null) return;
      if (f instanceof DecodeError) {
        this.findings.add('server sent bytes that do not frame as a message', `${f.message}; ${this.context()}`);
        this.close();
        return;
      }
      const m = decode(f);
      if (m instanceof DecodeError || m.type[0] !== 'R') {
        const what = m instanceof DecodeError ? m.message : m.type;
        this.findings.add('server sent a reply that does not decode', `${what}: ${hex(f)}; ${this.context()}`);
        continue;
      }
      this.tally.set(m.type, (this.tally.get(m.type) ?? 0) + 1);
      if (m.type === 'Rerror') {
        const k = `Rerror ${clip(m.ename, 200).replace(/'[^']*'|\d+/g, '_').slice(0, 60)}`;
        this.tally.set(k, (this.tally.get(k) ?? 0) + 1);
      }
      if (f.length > this.msize) {
        const req = this.requestFor?.(m.tag);
        this.findings.add(
          `reply larger than the negotiated msize (${m.type})`,
          `${f.length}-byte ${show(m)} with msize ${this.msize}, answering ${req ? show(req) : `tag ${m.tag}`}; ${where(this.at)}`,
        );
      }
      if (m.type === 'Rversion') this.msize = m.msize;
      this.onReply?.(m as RMessage);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The fuzzer

type Mode = 'strict' | 'lockstep' | 'mutated' | 'malformed';
const MODE_SHARE: Record<Mode, number> = { strict: 0.52, lockstep: 0.06, mutated: 0.38, malformed: 0.04 };

interface Entry {
  m: TMessage;
  index: number;
}

class Fuzz {
  sent = 0;
  readonly sentBy: Record<Mode, number> = { strict: 0, lockstep: 0, mutated: 0, malformed: 0 };
  connections = 0;
  closedByServer = 0;
  /** Mutated connections: closed as the framing predicted, and kept open and answering. */
  mutatedClosed = 0;
  mutatedAlive = 0;
  /** Replies received, by type: how deep the fuzzing gets. */
  readonly tally = new Map<string, number>();
  readonly start = Date.now();

  constructor(
    readonly socketPath: string,
    readonly findings: Findings,
    /** Crashes so far (counted by the process listeners). */
    private readonly crashes: () => number,
  ) {}

  get overtime(): boolean {
    return Date.now() - this.start > DEADLINE_MS;
  }

  /** Whether enough went badly wrong that going on would only take time. */
  get hopeless(): boolean {
    return this.findings.severe >= 5 || this.crashes() >= 5;
  }

  async lane(lane: number, budget: number): Promise<void> {
    const rng = new Rng(laneSeed(lane));
    const gen = new Gen(rng);
    const sibling = await attachedWire(this.socketPath);
    const mine: Record<Mode, number> = { strict: 0, lockstep: 0, mutated: 0, malformed: 0 };
    let total = 0;
    let conn = 0;
    try {
      while (total < budget && !this.overtime && !this.hopeless) {
        // The mode furthest behind its share goes next: reproducible from the seed alone.
        let mode: Mode = 'strict';
        let worst = Infinity;
        for (const k of Object.keys(MODE_SHARE) as Mode[]) {
          const ratio = mine[k] / MODE_SHARE[k];
          if (ratio < worst) [worst, mode] = [ratio, k];
        }
        const at: Where = { lane, conn: conn++, kind: mode };
        this.connections++;
        let n: number;
        if (mode === 'mutated') n = await this.mutated(at, rng, gen);
        else if (mode === 'malformed') n = await this.malformed(at, rng, gen, sibling);
        else n = await this.strict(at, rng, gen, mode === 'lockstep');
        mine[mode] += n;
        this.sentBy[mode] += n;
        total += n;
        this.sent += n;
      }
    } finally {
      sibling.close();
    }
  }

  /**
   * Valid-shaped messages, every one accounted for: random ones, and the steps of episodes that
   * check what they get back. Returns the messages sent.
   */
  private async strict(at: Where, rng: Rng, gen: Gen, lockstep: boolean): Promise<number> {
    const conn = await RawConn.connect(this.socketPath, at, this.findings, this.tally);
    gen.reset();
    let maxSize = SERVER_MSIZE; // the server's framing limit, as the messages so far set it
    let sent = 0;
    let reset = true; // whether to start the next batch with Tversion + Tattach
    const r0 = rng.next();
    const firstVersion: Omit<TMessage, 'tag'> | null =
      r0 < 0.9 ? { type: 'Tversion', msize: 8192, version: '9P2000' } : r0 < 0.97 ? gen.tversion() : null;
    const batches = firstVersion === null ? 1 : lockstep ? 20 + rng.int(60) : 2 + rng.int(10);
    /** After `batches`, batches go on (up to this many) with only the running episodes' steps, to let them finish. */
    const drain = 40;
    let nextFid = ROOT_FID + 1;
    let unique = 0;
    const ctx: EpisodeCtx = {
      rng,
      fid: () => (nextFid = nextFid >= 0xfff0 ? ROOT_FID + 1 : nextFid + 1),
      unique: () => `${rng.chance(0.2) ? 'ë' : 'e'}${at.lane}.${at.conn}.${unique++}`,
      msize: () => conn.msize,
      bad: (kind, detail) => this.findings.add(kind, `${detail}; ${where(at)}`),
    };
    interface Running {
      ep: Episode;
      next: TMessage;
    }
    let running: Running[] = [];
    const start = () => {
      const ep = weighted(rng, EPISODES)(ctx);
      const first = ep.next(undefined);
      if (!first.done) running.push({ ep, next: first.value });
    };
    try {
      for (let b = 0; (b < batches || (b < batches + drain && running.length > 0)) && !conn.closed; b++) {
        const draining = b >= batches;
        const tags = new Set<number>();
        const freshTag = () => {
          for (;;) {
            const t = rng.chance(0.02) ? NOTAG : rng.u16();
            if (!tags.has(t)) {
              tags.add(t);
              return t;
            }
          }
        };
        const msgs: TMessage[] = [];
        const add = (m: TMessage): number => {
          gen.saw(m);
          const size = encodedSize(m);
          assert.ok(size <= maxSize, `test bug: generated ${size} bytes for msize ${maxSize}`);
          msgs.push(m);
          if (m.type === 'Tversion') {
            if (m.msize >= MIN_MSIZE) maxSize = Math.min(m.msize, SERVER_MSIZE);
            reset = true;
          }
          return msgs.length - 1;
        };
        const random = () => add(withTag(gen.message(maxSize, [...tags]), freshTag()));
        if (b === 0 ? firstVersion !== null : !draining && reset && rng.chance(0.9)) {
          add(withTag(b === 0 ? firstVersion! : { type: 'Tversion', msize: 8192, version: '9P2000' }, freshTag()));
          reset = false;
          add({ type: 'Tattach', tag: freshTag(), fid: 0, afid: NOFID, uname: 'fuzz', aname: '' });
          add({ type: 'Tattach', tag: freshTag(), fid: ROOT_FID, afid: NOFID, uname: 'fuzz', aname: '' });
          running = []; // a Tversion took their fids
        }
        // One step of each running episode (those too big for the msize in force are dropped).
        if (draining) {
          // no new episodes
        } else if (lockstep) {
          if (running.length === 0 && rng.chance(0.5)) start();
        } else {
          while (running.length < 16 && rng.chance(0.8)) start();
        }
        const steps: [Running, number | null][] = [];
        for (const run of lockstep && !draining && rng.chance(0.4) ? [] : running) {
          let size: number;
          try {
            size = encodedSize(run.next);
          } catch (e) {
            this.findings.add('test bug: an episode made a message that does not encode', `${String(e)}: ${show(run.next)}`);
            size = Infinity;
          }
          steps.push([run, size <= maxSize ? add(withTag(run.next, freshTag())) : null]);
        }
        if (!lockstep) {
          // Random messages go in at random places among the steps.
          for (let n = draining ? rng.int(3) : 5 + rng.int(60); n > 0; n--) random();
          const order = msgs.map((_, i) => i);
          for (let i = order.length - 1; i > 0; i--) {
            const j = rng.int(i + 1);
            [order[i], order[j]] = [order[j]!, order[i]!];
          }
          // Keep Tversion/Tattach setup first and each Tversion's effect where it was generated:
          // only shuffle when the batch has no Tversion.
          if (!msgs.some((m) => m.type === 'Tversion')) {
            const shuffled = order.map((i) => msgs[i]!);
            const where_ = new Map(order.map((i, k) => [i, k]));
            msgs.splice(0, msgs.length, ...shuffled);
            for (const st of steps) if (st[1] !== null) st[1] = where_.get(st[1])!;
          }
        } else if (msgs.length === 0) {
          random();
        }
        sent += msgs.length;
        const { ok, replies } = await this.batch(conn, msgs);
        if (!ok) break;
        for (const [run, index] of steps) {
          const res = run.ep.next(index === null ? undefined : replies[index]);
          if (res.done) running.splice(running.indexOf(run), 1);
          else run.next = res.value;
        }
      }
    } finally {
      conn.close();
    }
    return sent;
  }

  /**
   * Sends `msgs` in one write and checks the replies. Resolves false if the connection is done for
   * (closed by the server, or a hang); each such event is already a finding.
   */
  private batch(conn: RawConn, msgs: TMessage[]): Promise<{ ok: boolean; replies: (RMessage | undefined)[] }> {
    const entries: Entry[] = msgs.map((m, index) => ({ m, index }));
    const replies: (RMessage | undefined)[] = [];
    const outstanding = new Map<number, Entry>(entries.map((e) => [e.m.tag, e]));
    const silenced = new Map<number, string>();
    let versioned = conn.versioned;
    const f = this.findings;
    for (const m of msgs.slice(-8)) conn.note(m);
    return new Promise((resolve) => {
      conn.requestFor = (tag) => outstanding.get(tag)?.m;
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        conn.onReply = null;
        conn.requestFor = null;
        conn.versioned = versioned;
        resolve({ ok, replies });
      };
      const timer = setTimeout(() => {
        // Everything was answered (or silenced) but the batch did not notice: not a server hang.
        if (outstanding.size === 0) return finish(true);
        const stuck = [...outstanding.values()].slice(0, 5).map((e) => show(e.m));
        f.add('requests never answered (hang)', `${outstanding.size} unanswered after ${REPLY_TIMEOUT_MS} ms, e.g. ${stuck.join(', ')}; ${conn.context()}`, true);
        finish(false);
      }, REPLY_TIMEOUT_MS);
      conn.onReply = (r) => {
        if (r === null) {
          this.closedByServer++;
          const pending = [...outstanding.values()].slice(0, 5).map((e) => show(e.m));
          f.add('server closed a connection that sent only well-formed messages', `pending ${pending.join(', ')}; ${conn.context()}`);
          return finish(false);
        }
        const e = outstanding.get(r.tag);
        if (!e) {
          const why = silenced.get(r.tag);
          f.add(
            why ? `reply to a request after ${why}` : 'reply with a tag no pending request has',
            `${show(r)}; ${conn.context()}`,
          );
          return;
        }
        outstanding.delete(r.tag);
        replies[e.index] = r;
        this.checkReply(conn, e.m, r, versioned);
        if (e.m.type === 'Tversion') {
          versioned = r.type === 'Rversion' && r.version === '9P2000';
          // version(5): everything outstanding before it is aborted, unanswered.
          for (const o of [...outstanding.values()]) {
            if (o.index < e.index) {
              outstanding.delete(o.m.tag);
              silenced.set(o.m.tag, `the Tversion that aborted it (${show(e.m)})`);
            }
          }
        }
        if (e.m.type === 'Tflush' && r.type === 'Rflush' && e.m.oldtag !== e.m.tag) {
          // flush(5): once Rflush is out, the flushed request will never be answered.
          const o = outstanding.get(e.m.oldtag);
          if (o && o.index < e.index) {
            outstanding.delete(o.m.tag);
            silenced.set(o.m.tag, `its Rflush (${show(e.m)})`);
          }
        }
        if (outstanding.size === 0) finish(true);
      };
      conn.send(Buffer.concat(msgs.map((m) => encode(m))));
    });
  }

  private checkReply(conn: RawConn, t: TMessage, r: RMessage, versioned: boolean): void {
    const f = this.findings;
    const bad = (kind: string) => f.add(kind, `${show(t)} -> ${show(r)}; ${conn.context()}`);
    if (r.type !== 'Rerror' && r.type !== `R${t.type.slice(1)}`) return bad(`${t.type} answered with ${r.type}`);
    if (t.type === 'Tversion') {
      if (t.msize < MIN_MSIZE) {
        if (r.type !== 'Rerror') bad('Tversion with a tiny msize accepted');
      } else if (r.type !== 'Rversion') {
        bad('Tversion refused');
      } else {
        if (r.msize !== Math.min(t.msize, SERVER_MSIZE)) bad('Rversion msize is not min(ours, theirs)');
        if (t.version === '9P2000' && r.version !== '9P2000') bad('Tversion 9P2000 not answered 9P2000');
        if (!t.version.startsWith('9P2000') && r.version !== 'unknown') bad('unknown version not answered "unknown"');
        if (r.version !== '9P2000' && r.version !== 'unknown') bad('Rversion with a version other than 9P2000 or unknown');
      }
      return;
    }
    const botch = r.type === 'Rerror' && /botch/.test(r.ename);
    if (!versioned && !botch) return bad('request before a successful Tversion not answered "protocol botch"');
    if (versioned && botch) return bad('"protocol botch" after a successful Tversion');
    if (t.type === 'Twalk' && r.type === 'Rwalk') {
      if (r.qids.length > t.wnames.length || (t.wnames.length > 0 && r.qids.length === 0)) bad('Rwalk with a wrong number of qids');
    }
    if (t.type === 'Tread' && r.type === 'Rread' && r.data.length > Math.min(t.count, conn.msize - IOHDRSZ)) bad('Rread longer than asked');
    if (t.type === 'Twrite' && r.type === 'Rwrite' && r.count > t.data.length) bad('Rwrite count larger than the data');
  }

  /** Valid encodings, some mutated, framed as the server frames them. Returns the messages sent. */
  private async mutated(at: Where, rng: Rng, gen: Gen): Promise<number> {
    const conn = await RawConn.connect(this.socketPath, at, this.findings, this.tally);
    gen.reset();
    let sim = new SimInput(Buffer.alloc(0), SERVER_MSIZE);
    let sent = 0;
    let dead: string | null = null;
    const pMutate = rng.pick([0.005, 0.02, 0.1, 0.3]);
    const limit = 20 + rng.int(100);
    try {
      for (let chunkNo = 0; sent < limit && dead === null; chunkNo++) {
        let accepted: ReturnType<SimInput['feed']> | null = null;
        let chunk = Buffer.alloc(0);
        let count = 0;
        for (let attempt = 0; attempt < 8 && accepted === null; attempt++) {
          const parts: Buffer[] = [];
          const msgs: TMessage[] = [];
          if (chunkNo === 0 && rng.chance(0.95)) {
            msgs.push({ type: 'Tversion', tag: NOTAG, msize: 8192, version: '9P2000' });
            msgs.push({ type: 'Tattach', tag: 0, fid: 0, afid: NOFID, uname: 'fuzz', aname: '' });
            for (const m of msgs) gen.saw(m);
          }
          const k = 1 + rng.int(30);
          for (let i = 0; i < k; i++) {
            const m = withTag(gen.message(Math.min(sim.maxSize, 8192), [], true), rng.u16());
            gen.saw(m);
            msgs.push(m);
          }
          for (const m of msgs) {
            const b = encode(m);
            parts.push(rng.chance(pMutate) ? mutate(rng, b, msgs) : b);
          }
          if (rng.chance(0.03)) parts.splice(rng.int(parts.length + 1), 0, rng.bytes(1 + rng.int(100)));
          chunk = Buffer.concat(parts);
          count = msgs.length;
          const fed = sim.feed(chunk);
          if (fed.throws) {
            this.findings.add('the decoder throws instead of returning a DecodeError (it would crash the server)', `${fed.throws}; ${where(at)}`);
            continue;
          }
          if (fed.dangerous) continue;
          accepted = fed;
        }
        if (accepted === null) break;
        conn.note(`(bytes) ${hex(chunk)}`);
        conn.send(chunk);
        sent += count;
        sim = accepted.next;
        dead = accepted.dead;
      }
      if (dead === null && sim.pending.length > 0) {
        // Complete the partial frame the server is waiting for, so a final Tversion is seen whole.
        let fill = Buffer.alloc(Math.max(0, 4 - sim.pending.length));
        if (sim.pending.length >= 4) fill = Buffer.alloc(sim.pending.readUInt32LE(0) - sim.pending.length);
        const fed = sim.feed(fill);
        if (fed.dangerous || fed.throws) return sent;
        conn.note(`(fill) ${hex(fill)}`);
        conn.send(fill);
        sim = fed.next;
        dead = fed.dead;
        if (dead === null && sim.pending.length > 0) {
          const fill2 = Buffer.alloc(sim.pending.readUInt32LE(0) - sim.pending.length);
          const fed2 = sim.feed(fill2);
          if (fed2.dangerous || fed2.throws || fed2.next.pending.length > 0) return sent;
          conn.note(`(fill) ${hex(fill2)}`);
          conn.send(fill2);
          dead = fed2.dead;
        }
      }
      if (dead !== null) {
        if (await conn.closedWithin(REPLY_TIMEOUT_MS)) {
          this.closedByServer++;
          this.mutatedClosed++;
        } else this.findings.add('a malformed message did not close its connection', `${dead}; ${conn.context()}`, true);
        return sent;
      }
      // Everything the server framed was a well-formed T-message: the connection must still answer.
      const sync: TMessage = { type: 'Tversion', tag: rng.u16(), msize: 4000 + rng.int(4000), version: '9P2000' };
      const answered = new Promise<string | null>((resolve) => {
        const timer = setTimeout(() => resolve(`no Rversion within ${REPLY_TIMEOUT_MS} ms (hang)`), REPLY_TIMEOUT_MS);
        conn.onReply = (r) => {
          if (r === null) {
            clearTimeout(timer);
            resolve('the server closed it');
          } else if (r.type === 'Rversion' && r.tag === sync.tag && r.msize === (sync as Tversion).msize) {
            clearTimeout(timer);
            resolve(null);
          }
        };
      });
      conn.note(sync);
      conn.send(encode(sync));
      sent++;
      const why = await answered;
      if (why) this.findings.add('a connection whose bytes were all well-formed messages stopped answering', `${why}; ${conn.context()}`, true);
      else this.mutatedAlive++;
      return sent;
    } finally {
      conn.close();
    }
  }

  /** A few good RPCs, then a message that cannot be decoded: that connection, and only it, closes. */
  private async malformed(at: Where, rng: Rng, gen: Gen, sibling: Wire): Promise<number> {
    const w = await attachedWire(this.socketPath);
    gen.reset();
    gen.saw({ type: 'Tattach', tag: 0, fid: 0, afid: NOFID, uname: 'fuzz', aname: '' });
    let sent = 2;
    try {
      const k = rng.int(4);
      for (let i = 0; i < k; i++) {
        const m = withTag(gen.message(8192, [], false), rng.u16());
        gen.saw(m);
        const r = await w.rpc(m);
        sent++;
        if (r.tag !== m.tag) this.findings.add('lockstep reply with the wrong tag', `${show(m)} -> ${show(r)}; ${where(at)}`);
      }
      const { bytes, why } = malformedMessage(rng, gen);
      w.send(bytes);
      sent++;
      let reply: Buffer | null | 'timeout';
      try {
        reply = await w.nextRaw(REPLY_TIMEOUT_MS);
      } catch {
        reply = 'timeout';
      }
      if (reply !== null) {
        const what = reply === 'timeout' ? 'stayed open' : `answered ${show(decode(reply))}`;
        this.findings.add('a malformed message did not close its connection', `${why} (${hex(bytes)}): the server ${what}; ${where(at)}`, true);
      } else {
        this.closedByServer++;
        await w.closed;
      }
      // Its neighbour is unaffected.
      const tag = rng.u16();
      const r = await sibling.rpc({ type: 'Tstat', tag, fid: 0 }).catch((e: unknown) => String(e));
      sent++;
      if (typeof r === 'string' || r.type !== 'Rstat' || r.tag !== tag) {
        this.findings.add('closing a malformed connection disturbed another one', `sibling Tstat got ${typeof r === 'string' ? r : show(r)}; ${where(at)}`);
      }
      return sent;
    } finally {
      w.close();
    }
  }
}

async function attachedWire(socketPath: string): Promise<Wire> {
  const w = await Wire.connect(socketPath);
  const v = await w.rpc({ type: 'Tversion', tag: NOTAG, msize: 8192, version: '9P2000' });
  assert.equal(v.type, 'Rversion');
  const a = await w.rpc({ type: 'Tattach', tag: 0, fid: 0, afid: NOFID, uname: 'fuzz', aname: '' });
  assert.equal(a.type, 'Rattach');
  return w;
}

const ALL_TYPES = new Set<number>(Object.values(MessageType));

/** One way of damaging a valid encoding (the result may or may not still decode). */
function mutate(rng: Rng, b: Buffer, msgs: readonly TMessage[]): Buffer {
  const out = Buffer.from(b);
  switch (rng.int(11)) {
    case 0: // random bytes anywhere
    case 1: {
      const n = 1 + rng.int(3);
      for (let i = 0; i < n; i++) out[rng.int(out.length)] = rng.u8();
      return out;
    }
    case 2: // one bit
      out[rng.int(out.length)]! ^= 1 << rng.int(8);
      return out;
    case 3: // truncated, size field left as it was: the next message completes it
      return out.subarray(0, rng.int(out.length));
    case 4: {
      // truncated, size field fixed
      const cut = out.subarray(0, Math.max(4, rng.int(out.length)));
      cut.writeUInt32LE(cut.length, 0);
      return cut;
    }
    case 5: // extended, size field left as it was
      return Buffer.concat([out, rng.bytes(1 + rng.int(20))]);
    case 6: {
      // extended, size field fixed
      const ext = Buffer.concat([out, rng.bytes(1 + rng.int(20))]);
      ext.writeUInt32LE(ext.length, 0);
      return ext;
    }
    case 7: {
      // the size field
      const size = rng.pick([rng.u32(), rng.int(7), out.length + rng.range(-8, 8), 8193, 65561, 0xffffffff, out.length * 2]);
      out.writeUInt32LE(Math.max(0, size) >>> 0, 0);
      return out;
    }
    case 8: // the type byte
      out[4] = rng.chance(0.5) ? rng.u8() : rng.pick([...ALL_TYPES]);
      return out;
    case 9: {
      // a 16-bit field (string lengths, nwname, stat sizes) somewhere in the body
      if (out.length >= 9) out.writeUInt16LE(rng.chance(0.5) ? rng.u16() : rng.int(40), 7 + rng.int(out.length - 8));
      return out;
    }
    default: {
      // spliced with another message of the chunk
      const other = encode(rng.pick(msgs));
      const at = rng.int(out.length + 1);
      return Buffer.concat([out.subarray(0, at), other.subarray(rng.int(other.length))]);
    }
  }
}

/** A message the server must refuse by closing the connection (checked against SimInput). */
function malformedMessage(rng: Rng, gen: Gen): { bytes: Buffer; why: string } {
  const sim = new SimInput(Buffer.alloc(0), 8192);
  for (;;) {
    const base = encode(withTag(gen.message(8192, [], false), rng.u16()));
    let b: Buffer;
    let why: string;
    switch (rng.int(10)) {
      case 0:
        b = rng.bytes(7 + rng.int(20));
        b.writeUInt32LE(rng.int(7), 0);
        why = 'size field below 7';
        break;
      case 1:
        b = rng.bytes(4 + rng.int(40));
        b.writeUInt32LE(8193 + rng.int(0xffffffff - 8193), 0);
        why = 'size field above msize';
        break;
      case 2: {
        b = Buffer.from(base);
        let t: number;
        do t = rng.u8();
        while (ALL_TYPES.has(t));
        b[4] = t;
        why = `unknown type ${t}`;
        break;
      }
      case 3: {
        const r: RMessage = rng.pick<RMessage>([
          { type: 'Rversion', tag: NOTAG, msize: 8192, version: '9P2000' },
          { type: 'Rerror', tag: 1, ename: 'x' },
          { type: 'Rread', tag: 2, data: rng.bytes(rng.int(50)) },
          { type: 'Rclunk', tag: 3 },
          { type: 'Rwalk', tag: 4, qids: [{ type: 0, version: 0, path: 1n }] },
        ]);
        b = encode(r);
        why = `an ${r.type} from the client`;
        break;
      }
      case 4: {
        b = Buffer.concat([base, rng.bytes(1 + rng.int(30))]);
        b.writeUInt32LE(b.length, 0);
        why = 'bytes left over after the message';
        break;
      }
      case 5: {
        if (base.length <= 7) continue;
        b = Buffer.from(base.subarray(0, rng.range(7, base.length - 1)));
        b.writeUInt32LE(b.length, 0);
        why = 'body cut short, size field agreeing';
        break;
      }
      case 6: {
        const m: TMessage = { type: 'Tattach', tag: 1, fid: 1, afid: NOFID, uname: 'abc', aname: '' };
        b = encode(m);
        b.writeUInt16LE(4 + rng.int(60000), 15); // uname's length
        why = 'a string running past the end';
        break;
      }
      case 7: {
        const n = MAXWELEM + 1 + rng.int(50);
        const names = Buffer.concat(Array.from({ length: n }, () => Buffer.from([1, 0, 0x61])));
        b = Buffer.alloc(17);
        b.writeUInt8(MessageType.Twalk, 4);
        b.writeUInt16LE(rng.u16(), 5);
        b.writeUInt32LE(0, 7);
        b.writeUInt32LE(1, 11);
        b.writeUInt16LE(n, 15);
        b = Buffer.concat([b, names]);
        b.writeUInt32LE(b.length, 0);
        why = `Twalk with ${n} names`;
        break;
      }
      case 8: {
        b = encode({ type: 'Twstat', tag: 1, fid: 0, stat: unchangedStat() });
        b.writeUInt16LE(b.readUInt16LE(11) + rng.range(1, 5), rng.chance(0.5) ? 11 : 13); // outer or inner stat size
        why = 'Twstat whose stat sizes disagree';
        break;
      }
      default: {
        b = encode({ type: 'Twrite', tag: 1, fid: 0, offset: 0n, data: rng.bytes(rng.int(20)) });
        b.writeUInt32LE(b.readUInt32LE(19) + 1 + rng.int(1000), 19);
        why = 'Twrite count beyond the message';
        break;
      }
    }
    const fed = sim.feed(b);
    if (fed.dead !== null) return { bytes: b, why };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]);
}

function mb(n: number): string {
  return `${(n / 2 ** 20).toFixed(1)} MB`;
}

// ---------------------------------------------------------------------------------------------

describe('9P server under fuzzing', () => {
  let srv: Served;
  const serverLog: string[] = [];
  const crashes: string[] = [];
  const onUncaught = (e: unknown) => crashes.push(`uncaughtException: ${e instanceof Error ? e.stack : String(e)}`);
  const onRejection = (e: unknown) => crashes.push(`unhandledRejection: ${e instanceof Error ? e.stack : String(e)}`);

  before(async () => {
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onRejection);
    srv = await serve(createRamfs(), {
      log: (line) => {
        if (serverLog.length < 10000) serverLog.push(line);
      },
    });
    SERVER_MSIZE = srv.server.msize;
  });

  after(async () => {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onRejection);
    await srv?.close();
  });

  it(`survives ${COUNT} random and mutated messages while another client keeps working`, { timeout: 180_000 }, async (t) => {
    t.diagnostic(`seed ${SEED} (rerun with FUZZ_SEED=${SEED}), ${COUNT} messages, ${LANES} lanes`);
    console.log(`fuzz: FUZZ_SEED=${SEED} FUZZ_COUNT=${COUNT} FUZZ_LANES=${LANES}`); // at once, in case the run never ends
    const findings = new Findings();
    const rng = new Rng(SEED ^ 0x5eed);

    // The well-behaved client, on a file no fuzzer can name.
    const probe = await Client.dial(`unix!${srv.socketPath}`);
    const probeName = `probe§${rng.bytes(8).toString('hex')}`;
    await (await probe.create(probeName, 0o600, OWRITE)).close();
    let rounds = 0;
    let slowest = 0;
    const round = async () => {
      const began = Date.now();
      const payload = Buffer.concat([Buffer.from(`round ${rounds} `), rng.bytes(rng.int(3000))]);
      try {
        await withTimeout(probe.writeFile(probeName, payload), REPLY_TIMEOUT_MS, 'probe write');
        const back = await withTimeout(probe.readFile(probeName), REPLY_TIMEOUT_MS, 'probe read');
        if (!back.equals(payload)) findings.add('the probe client read back something else', `wrote ${hex(payload)}, read ${hex(back)}`);
        const st = await withTimeout(probe.stat(probeName), REPLY_TIMEOUT_MS, 'probe stat');
        if (st.length !== BigInt(payload.length)) findings.add('the probe file has the wrong length', `${st.length} != ${payload.length}`);
      } catch (e) {
        findings.add('the probe client failed', String(e));
      }
      rounds++;
      slowest = Math.max(slowest, Date.now() - began);
    };

    if (typeof globalThis.gc === 'function') globalThis.gc();
    const base = process.memoryUsage();
    let peakRss = base.rss;
    let peakHeap = base.heapUsed;
    const baseConnections = srv.server.connections;
    assert.equal(baseConnections, 1, 'only the probe is connected before the run');

    const fuzz = new Fuzz(srv.socketPath, findings, () => crashes.length);
    let fuzzing = true;
    const prober = (async () => {
      while (fuzzing) {
        await round();
        const mem = process.memoryUsage();
        peakRss = Math.max(peakRss, mem.rss);
        peakHeap = Math.max(peakHeap, mem.heapUsed);
        await sleep(20);
      }
    })();

    const perLane = Math.ceil(COUNT / LANES);
    const lanes = Array.from({ length: LANES }, (_, i) =>
      fuzz.lane(i, perLane).catch((e: unknown) => findings.add('a fuzz lane failed', e instanceof Error ? (e.stack ?? e.message) : String(e))),
    );
    await Promise.all(lanes);
    fuzzing = false;
    await prober;
    const fuzzMs = Date.now() - fuzz.start;

    // Afterwards: the fuzzers' connections are gone, the probe still works, the root still lists.
    const gone = Date.now();
    while (srv.server.connections !== baseConnections && Date.now() - gone < 5000) await sleep(10);
    if (srv.server.connections !== baseConnections) {
      findings.add('connections not released', `${srv.server.connections} connections left, expected ${baseConnections}`);
    }
    for (let i = 0; i < 3; i++) await round();
    try {
      // The fuzzers may have changed the root's mode (anyone may here): give it back its 0775.
      await withTimeout(probe.wstat('/', { mode: (DMDIR | 0o775) >>> 0 }), REPLY_TIMEOUT_MS, 'wstat of the root');
      const names = (await withTimeout(probe.readdir('/'), REPLY_TIMEOUT_MS, 'readdir')).map((s) => s.name);
      if (!names.includes(probeName)) findings.add('the root listing lost the probe file', `${names.length} entries`);
    } catch (e) {
      findings.add('a well-behaved client (msize 65560) cannot list the root after the run', String(e));
    }
    probe.close();

    if (typeof globalThis.gc === 'function') globalThis.gc();
    const end = process.memoryUsage();
    peakRss = Math.max(peakRss, end.rss);
    peakHeap = Math.max(peakHeap, end.heapUsed);
    const internal = serverLog.filter((l) => /^9p: T\w+: /.test(l));
    const internalKinds = new Map<string, number>();
    for (const l of internal) {
      const k = l.replace(/\d+/g, 'N').slice(0, 120);
      internalKinds.set(k, (internalKinds.get(k) ?? 0) + 1);
    }
    t.diagnostic(
      `${fuzz.sent} messages in ${fuzzMs} ms over ${fuzz.connections} connections ` +
        `(strict ${fuzz.sentBy.strict}, lockstep ${fuzz.sentBy.lockstep}, mutated ${fuzz.sentBy.mutated}, malformed ${fuzz.sentBy.malformed}); ` +
        `${fuzz.closedByServer} closed by the server`,
    );
    const tally = [...fuzz.tally].sort((a, b) => b[1] - a[1]);
    t.diagnostic(`replies: ${tally.filter(([k]) => !k.includes(' ')).map(([k, n]) => `${k} ${n}`).join(', ')}`);
    t.diagnostic(`errors: ${tally.filter(([k]) => k.includes(' ')).slice(0, 12).map(([k, n]) => `${n}x ${k.slice(7)}`).join('; ')}`);
    t.diagnostic(`mutated connections: ${fuzz.mutatedClosed} closed by the server as predicted, ${fuzz.mutatedAlive} kept open and answering`);
    t.diagnostic(`probe: ${rounds} round trips, slowest ${slowest} ms`);
    t.diagnostic(
      `memory: heapUsed ${mb(base.heapUsed)} -> ${mb(end.heapUsed)} (peak ${mb(peakHeap)}), rss ${mb(base.rss)} -> ${mb(end.rss)} (peak ${mb(peakRss)})`,
    );
    for (const [k, n] of internalKinds) t.diagnostic(`server log ${n}x: ${k}`);

    // Programming errors in the server show up as TypeErrors and the like in its log.
    const programmingError = /Cannot (read|set) propert|is not (a function|iterable|defined|a constructor)|Cannot convert|Maximum call stack/;
    for (const [k, n] of internalKinds) {
      if (programmingError.test(k)) findings.add('internal error in the server', `${n}x ${k}`);
    }
    if (fuzz.hopeless) findings.add('fuzzing stopped early after severe findings', `${fuzz.sent} of ${COUNT} messages sent`);
    else if (fuzz.sent < COUNT) findings.add('the run did not finish in time', `${fuzz.sent} of ${COUNT} messages in ${fuzzMs} ms`);
    if (peakHeap - base.heapUsed > MAX_HEAP_GROWTH) findings.add('heap grew without bound', `${mb(base.heapUsed)} -> peak ${mb(peakHeap)}`);
    if (peakRss - base.rss > MAX_RSS_GROWTH) findings.add('rss grew without bound', `${mb(base.rss)} -> peak ${mb(peakRss)}`);
    if (rounds < 5) findings.add('the probe client hardly ran', `${rounds} rounds`);
    for (const c of crashes) findings.add('the server process would have crashed', c);

    assert.equal(findings.size, 0, `fuzzing with FUZZ_SEED=${SEED} found:\n${findings.report()}`);
  });
});

// ---------------------------------------------------------------------------------------------
// What the fuzzer found, each as the smallest sequence that shows it.

describe('fuzz findings, as minimal repros', () => {
  let srv: Served;
  const serverLog: string[] = [];

  before(async () => {
    srv = await serve(createRamfs(), { log: (line) => void serverLog.push(line) });
  });
  after(() => srv?.close());

  async function attached(msize: number): Promise<Wire> {
    const w = await Wire.connect(srv.socketPath);
    const v = await w.rpc({ type: 'Tversion', tag: NOTAG, msize, version: '9P2000' });
    assert.equal(v.type, 'Rversion');
    assert.equal((await w.rpc({ type: 'Tattach', tag: 0, fid: 0, afid: NOFID, uname: 'u', aname: '' })).type, 'Rattach');
    return w;
  }

  /** The raw reply to `m`, checked to fit `msize` (intro(5): msize bounds every message, both ways). */
  async function rawRpc(w: Wire, m: TMessage): Promise<Buffer> {
    w.send(m);
    const raw = await w.nextRaw();
    assert.ok(raw, `connection closed instead of answering ${m.type}`);
    return raw;
  }

  it('Rstat fits the negotiated msize, even for a file whose name nearly fills it', async () => {
    const w = await attached(256);
    try {
      // Tcreate of a 200-byte name fits msize 256 (225 bytes); its stat entry does not.
      const name = 'n'.repeat(200);
      const cr = decode(await rawRpc(w, { type: 'Tcreate', tag: 1, fid: 0, name, perm: 0o666, mode: OREAD }));
      assert.ok(!(cr instanceof DecodeError) && cr.type === 'Rcreate');
      const raw = await rawRpc(w, { type: 'Tstat', tag: 2, fid: 0 });
      assert.ok(raw.length <= 256, `Tstat answered with a ${raw.length}-byte ${show(decode(raw))} on a connection of msize 256`);
    } finally {
      w.close();
    }
  });

  it('an Rerror trimmed to the msize still fits it when the cut falls inside a UTF-8 character', async () => {
    const w = await attached(256);
    try {
      // The reply quotes the 237-byte name: "illegal file name '/éé…'" is trimmed to msize-9 = 247
      // bytes, which cuts an "é" in two; the decoder turns the half into U+FFFD, 3 bytes.
      const raw = await rawRpc(w, { type: 'Tcreate', tag: 1, fid: 0, name: `/${'é'.repeat(118)}`, perm: 0o666, mode: OREAD });
      assert.ok(raw.length <= 256, `answered with a ${raw.length}-byte ${show(decode(raw))} on a connection of msize 256`);
    } finally {
      w.close();
    }
  });

  it('a file whose stat entry does not encode does not break listing its directory for everyone', async () => {
    const w = await attached(65536 + IOHDRSZ);
    const c = await Client.dial(`unix!${srv.socketPath}`);
    try {
      await c.readdir('/');
      // A 65500-byte name fits a 9P string and a Tcreate, but not a stat entry (size[2] <= 65535).
      const name = 'x'.repeat(65500);
      const cr = decode(await rawRpc(w, { type: 'Tcreate', tag: 1, fid: 0, name, perm: 0o666, mode: OREAD }));
      assert.ok(!(cr instanceof DecodeError));
      try {
        await assert.doesNotReject(c.readdir('/'), `after ${cr.type} of a ${name.length}-byte name, the root cannot be listed`);
      } finally {
        if (cr.type === 'Rcreate') await rawRpc(w, { type: 'Tremove', tag: 2, fid: 0 });
      }
    } finally {
      c.close();
      w.close();
    }
  });

  it('an in-place Twalk racing a Topen of the same fid leaves no open directory fid standing on a file', async () => {
    const w = await attached(8192);
    try {
      const name = `race${Date.now()}`;
      await rawRpc(w, { type: 'Twalk', tag: 1, fid: 0, newfid: 2, wnames: [] });
      await rawRpc(w, { type: 'Tcreate', tag: 1, fid: 2, name, perm: 0o666, mode: OREAD });
      await rawRpc(w, { type: 'Twalk', tag: 1, fid: 0, newfid: 1, wnames: [] }); // fid 1: the root directory
      // In one write: walk fid 1 in place to the file, and open it (a directory when dispatched).
      w.send(Buffer.concat([
        encode({ type: 'Twalk', tag: 1, fid: 1, newfid: 1, wnames: [name] }),
        encode({ type: 'Topen', tag: 2, fid: 1, mode: OREAD }),
      ]));
      const replies = [await w.next(), await w.next()];
      const walked = replies.find((r) => r.tag === 1)!;
      const opened = replies.find((r) => r.tag === 2)!;
      if (walked.type === 'Rwalk' && walked.qids.length === 1 && opened.type === 'Ropen') {
        const before = serverLog.length;
        const r = await w.rpc({ type: 'Tread', tag: 3, fid: 1, offset: 0n, count: 100 });
        assert.equal(
          r.type,
          'Rread',
          `both the walk to a file and the open of the directory succeeded; then Tread gave ${show(r)} (server log: ${serverLog.slice(before).join('; ')})`,
        );
      }
    } finally {
      w.close();
    }
  });

  it('ramfs: removing or renaming through a stale fid of a removed file leaves the new file of that name alone', async () => {
    for (const stale of ['remove', 'rename'] as const) {
      const w = await attached(8192);
      try {
        const name = `stale-${stale}`;
        await w.rpc({ type: 'Twalk', tag: 1, fid: 0, newfid: 1, wnames: [] });
        assert.equal((await w.rpc({ type: 'Tcreate', tag: 1, fid: 1, name, perm: 0o666, mode: ORDWR })).type, 'Rcreate');
        assert.equal((await w.rpc({ type: 'Twalk', tag: 1, fid: 0, newfid: 2, wnames: [name] })).type, 'Rwalk'); // fid 2: the old file
        assert.equal((await w.rpc({ type: 'Tremove', tag: 1, fid: 1 })).type, 'Rremove');
        await w.rpc({ type: 'Twalk', tag: 1, fid: 0, newfid: 3, wnames: [] });
        const fresh = await w.rpc({ type: 'Tcreate', tag: 1, fid: 3, name, perm: 0o666, mode: ORDWR }); // a new file, same name
        assert.equal(fresh.type, 'Rcreate');
        const r =
          stale === 'remove'
            ? await w.rpc({ type: 'Tremove', tag: 1, fid: 2 })
            : await w.rpc({ type: 'Twstat', tag: 1, fid: 2, stat: { ...unchangedStat(), name: `${name}-renamed` } });
        const walk = await w.rpc({ type: 'Twalk', tag: 1, fid: 0, newfid: 4, wnames: [name] });
        assert.ok(
          walk.type === 'Rwalk' && walk.qids[0]?.path === (fresh as Extract<RMessage, { type: 'Rcreate' }>).qid.path,
          `after ${stale} through the removed file's fid (${show(r)}), walking to ${name} gives ${show(walk)}, not the new file`,
        );
      } finally {
        w.close();
      }
    }
  });

  it('ramfs: one Twrite at a large offset does not make the server allocate that much memory', async () => {
    const w = await attached(8192);
    try {
      await w.rpc({ type: 'Twalk', tag: 1, fid: 0, newfid: 1, wnames: [] });
      assert.equal((await w.rpc({ type: 'Tcreate', tag: 1, fid: 1, name: 'sparse', perm: 0o666, mode: ORDWR })).type, 'Rcreate');
      const before = process.memoryUsage().arrayBuffers;
      // A 24-byte message; plan 9's ramfs refuses such writes ("write too big").
      const r = await w.rpc({ type: 'Twrite', tag: 1, fid: 1, offset: 256n << 20n, data: Buffer.from('x') });
      const grown = process.memoryUsage().arrayBuffers - before;
      await w.rpc({ type: 'Tremove', tag: 1, fid: 1 });
      assert.ok(grown < 64 * 2 ** 20, `a 1-byte Twrite at offset 256 MiB (${show(r)}) grew the buffers by ${mb(grown)}`);
    } finally {
      w.close();
    }
  });
});
