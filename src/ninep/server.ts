/**
 * A 9P2000 server over any byte stream. Each connection keeps its own fids; requests run
 * concurrently (a blocked read never holds up the rest of its connection) and replies go out in
 * whatever order they finish, matched by tag, as 9pfuse's pipelining expects.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';

import { DMDIR, IOHDRSZ, NOFID, OEXEC, OREAD, ORCLOSE, ORDWR, OTRUNC, OWRITE, VERSION_9P2000 } from './constants.js';
import { Errors } from './errors.js';
import type { Qid, RMessage, Stat, TMessage, Twalk, Twstat } from './messages.js';
import { DONT_TOUCH } from './messages.js';
import { DecodeError, MessageFramer, decode } from './parser.js';
import { currentUser, resolveAddress } from './namespace.js';
import { encode, encodeStat } from './serializer.js';
import type { CloseReason, DirNode, Node, OpenFile, StatChange } from './tree.js';
import { startTime } from './tree.js';

export interface ServerOptions {
  /** Our largest message; a client's Tversion may only lower it. Default 64 KiB + IOHDRSZ. */
  msize?: number;
  /** Fids one connection may hold at once. Default 4096. */
  maxFids?: number;
  /** Requests one connection may have outstanding at once. Default 256. */
  maxPending?: number;
  /** Owner shown in stat entries when a node names none. Default: the user running the server. */
  uid?: string;
  /** Protocol errors and connection losses worth a line in a log. Default: silent. */
  log?: (line: string) => void;
  /** Checks a Tattach's user and tree names; throw to refuse it (the text is the Rerror). */
  attach?: (uname: string, aname: string) => void;
  /** The Rerror text of Tauth. Default: Errors.noAuth. */
  authError?: string;
}

const MIN_MSIZE = 256;
const NEVER_ABORTED = new AbortController().signal;

interface DirReadState {
  entries: Buffer[];
  index: number;
  offset: number;
}

interface OpenState {
  mode: number;
  file: OpenFile | null;
  dir: DirReadState | null;
}

interface Fid {
  /** From the root to the node this fid stands for: `..` walks back along it. */
  path: Node[];
  open: OpenState | null;
  /** Reads in progress, aborted when the fid goes away. */
  inflight: Set<AbortController>;
}

interface Pending {
  epoch: number;
  controller: AbortController | null;
  flushed: boolean;
  done: Promise<void>;
}

/** The longest prefix of `s` whose UTF-8 encoding fits in `max` bytes, never splitting a character. */
function truncateUtf8(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  const bytes = Buffer.from(s);
  let end = max;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // back up to the start of a character
  return bytes.subarray(0, end).toString();
}

/** Linux's NAME_MAX: longer names could not be listed (a stat entry is at most 65535 bytes). */
const MAX_NAME_BYTES = 255;

function last(path: Node[]): Node {
  return path[path.length - 1]!;
}

function validName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0');
}

/** A name a client may give a new file or a rename. */
function checkNewName(name: string): void {
  if (!validName(name)) throw new Error(Errors.badName(name));
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) throw new Error(Errors.nameTooLong(MAX_NAME_BYTES));
}

function canRead(mode: number): boolean {
  return (mode & 0o400) !== 0;
}
function canWrite(mode: number): boolean {
  return (mode & 0o200) !== 0;
}

export class Server {
  readonly msize: number;
  readonly maxFids: number;
  readonly maxPending: number;
  readonly uid: string;
  readonly log: (line: string) => void;
  readonly attach: (uname: string, aname: string) => void;
  readonly authError: string;
  private readonly live = new Set<Connection>();

  constructor(
    readonly root: DirNode,
    options: ServerOptions = {},
  ) {
    this.msize = Math.max(MIN_MSIZE, options.msize ?? 65536 + IOHDRSZ);
    this.maxFids = options.maxFids ?? 4096;
    this.maxPending = options.maxPending ?? 256;
    this.uid = options.uid ?? currentUser();
    this.log = options.log ?? (() => {});
    this.attach = options.attach ?? (() => {});
    this.authError = options.authError ?? Errors.noAuth;
  }

  /** Serves 9P on a connected byte stream until it closes. */
  serve(stream: Duplex): void {
    const conn = new Connection(this, stream, () => this.live.delete(conn));
    this.live.add(conn);
  }

  /** Listens on `unix!/path`, `tcp!host!port` or a plain socket path. */
  async listen(address: string): Promise<net.Server> {
    const listener = net.createServer((socket) => this.serve(socket));
    const target = resolveAddress(address);
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      const done = () => {
        listener.off('error', reject);
        resolve();
      };
      if ('path' in target) listener.listen(target.path, done);
      else listener.listen(target.port, target.host, done);
    });
    return listener;
  }

  /** Connections being served now. */
  get connections(): number {
    return this.live.size;
  }

  /** Ends every connection (their fids are dropped, as on EOF). */
  closeAll(): void {
    for (const c of [...this.live]) c.close();
  }

  statOf(node: Node): Stat {
    const s = node.stat();
    const mode = (node.isDir ? s.mode | DMDIR : s.mode & ~DMDIR) >>> 0;
    const mtime = s.mtime ?? startTime;
    return {
      type: 0,
      dev: 0,
      qid: { type: (mode >>> 24) & 0xff, version: s.version ?? 0, path: node.qidPath }, // as qidOf
      mode,
      atime: s.atime ?? mtime,
      mtime,
      length: BigInt(node.isDir ? 0 : Math.max(0, Math.floor(s.length ?? 0))),
      name: node === this.root ? '/' : s.name,
      uid: s.uid ?? this.uid,
      gid: s.gid ?? s.uid ?? this.uid,
      muid: s.muid ?? s.uid ?? this.uid,
    };
  }

  qidOf(node: Node): Qid {
    const s = node.stat();
    const mode = node.isDir ? s.mode | DMDIR : s.mode & ~DMDIR;
    return { type: (mode >>> 24) & 0xff, version: s.version ?? 0, path: node.qidPath };
  }
}

class Connection {
  private readonly fids = new Map<number, Fid>();
  private readonly pending = new Map<number, Pending>();
  private readonly framer: MessageFramer;
  private msize: number;
  private versioned = false;
  /** Bumped by Tversion: replies of requests from an older epoch are never sent. */
  private epoch = 0;
  private closed = false;
  private paused = false;

  constructor(
    private readonly server: Server,
    private readonly stream: Duplex,
    private readonly onClose: () => void,
  ) {
    this.msize = server.msize;
    this.framer = new MessageFramer(server.msize);
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
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
    const interrupted = new Error(Errors.interrupted);
    for (const p of this.pending.values()) p.controller?.abort(interrupted);
    this.pending.clear();
    this.dropFids();
    this.stream.destroy();
    this.onClose();
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.framer.push(chunk);
    for (let n = 0; ; n++) {
      const frame = this.framer.next();
      if (frame === null) return;
      if (n === 1) {
        // A pipelining client (9pfuse) sent several requests at once: gather the replies that
        // finish together into one write instead of one system call each.
        this.stream.cork();
        setImmediate(() => this.stream.uncork());
      }
      const m = frame instanceof DecodeError ? frame : decode(frame);
      if (m instanceof DecodeError) return this.protocolError(m.toString());
      if (m.type[0] !== 'T') return this.protocolError(`client sent ${m.type}`);
      this.dispatch(m as TMessage);
      if (this.closed) return;
    }
  }

  private protocolError(why: string): void {
    this.server.log(`9p: closing connection: ${why}`);
    this.close();
  }

  private dispatch(m: TMessage): void {
    if (m.type === 'Tversion') return this.send(this.version(m.tag, m.msize, m.version));
    if (!this.versioned) return this.send({ type: 'Rerror', tag: m.tag, ename: Errors.notVersioned });
    if (this.pending.has(m.tag)) return this.send({ type: 'Rerror', tag: m.tag, ename: Errors.tagInUse(m.tag) });
    // A flush is how a client frees a full connection: it is never refused for lack of room.
    if (this.pending.size >= this.server.maxPending && m.type !== 'Tflush') {
      return this.send({ type: 'Rerror', tag: m.tag, ename: Errors.tooManyRequests(this.server.maxPending) });
    }
    const p: Pending = { epoch: this.epoch, controller: null, flushed: false, done: Promise.resolve() };
    this.pending.set(m.tag, p);
    p.done = this.run(m, p).then((reply) => {
      if (this.pending.get(m.tag) === p) this.pending.delete(m.tag);
      if (reply && this.alive(p)) this.send(reply);
    });
  }

  private alive(p: Pending): boolean {
    return !this.closed && p.epoch === this.epoch;
  }

  private async run(m: TMessage, p: Pending): Promise<RMessage | null> {
    try {
      return await this.handle(m, p);
    } catch (e) {
      if (p.flushed || !this.alive(p)) return null;
      const ename = e instanceof Error ? e.message : String(e);
      if (!(e instanceof Error) || e.constructor !== Error) this.server.log(`9p: ${m.type}: ${ename}`);
      return { type: 'Rerror', tag: m.tag, ename: ename || Errors.internal('unknown') };
    }
  }

  private version(tag: number, msize: number, version: string): RMessage {
    // version(5): a new Tversion aborts all outstanding I/O and frees every fid.
    this.epoch++;
    const interrupted = new Error(Errors.interrupted);
    for (const p of this.pending.values()) p.controller?.abort(interrupted);
    this.pending.clear();
    this.dropFids();
    if (msize < MIN_MSIZE) {
      this.versioned = false;
      return { type: 'Rerror', tag, ename: Errors.msizeTooSmall(msize) };
    }
    this.msize = Math.min(msize, this.server.msize);
    this.framer.maxSize = this.msize;
    const known = version === VERSION_9P2000 || version.startsWith(`${VERSION_9P2000}.`);
    this.versioned = known;
    return { type: 'Rversion', tag, msize: this.msize, version: known ? VERSION_9P2000 : 'unknown' };
  }

  private dropFids(): void {
    const fids = [...this.fids.values()];
    this.fids.clear();
    for (const fid of fids) {
      this.release(fid, 'drop').catch((e: unknown) => this.server.log(`9p: closing a dropped fid: ${String(e)}`));
    }
  }

  private send(m: RMessage): void {
    if (this.closed) return;
    let buf: Buffer;
    try {
      buf = encode(m.type === 'Rerror' ? { ...m, ename: truncateUtf8(m.ename, this.msize - 9) } : m);
      if (buf.length > this.msize) buf = this.errorBuf(m.tag, Errors.replyTooLarge(m.type, buf.length, this.msize));
    } catch (e) {
      buf = this.errorBuf(m.tag, Errors.internal(e instanceof Error ? e.message : String(e)));
    }
    if (!this.stream.write(buf) && !this.paused) {
      // The client is not reading its replies: stop reading its requests until it does.
      this.paused = true;
      this.stream.pause();
      this.stream.once('drain', () => {
        this.paused = false;
        if (!this.closed) this.stream.resume();
      });
    }
  }

  private errorBuf(tag: number, ename: string): Buffer {
    return encode({ type: 'Rerror', tag, ename: truncateUtf8(ename, this.msize - 9) });
  }

  private fid(n: number): Fid {
    const fid = this.fids.get(n);
    if (!fid) throw new Error(Errors.unknownFid(n));
    return fid;
  }

  private claimable(n: number): void {
    if (this.fids.has(n)) throw new Error(Errors.fidInUse(n));
    if (this.fids.size >= this.server.maxFids) throw new Error(Errors.tooManyFids(this.server.maxFids));
  }

  private signal(p: Pending, fid: Fid): { signal: AbortSignal; finish: () => void } {
    const controller = new AbortController();
    p.controller = controller;
    fid.inflight.add(controller);
    return { signal: controller.signal, finish: () => fid.inflight.delete(controller) };
  }

  private async release(fid: Fid, reason: CloseReason): Promise<void> {
    if (fid.inflight.size > 0) {
      const interrupted = new Error(Errors.interrupted);
      for (const c of fid.inflight) c.abort(interrupted);
      fid.inflight.clear();
    }
    const open = fid.open;
    fid.open = null;
    if (!open) return;
    await open.file?.close?.(reason);
    if (open.mode & ORCLOSE) {
      const node = last(fid.path);
      await node.remove?.();
    }
  }

  private async handle(m: TMessage, p: Pending): Promise<RMessage | null> {
    const tag = m.tag;
    switch (m.type) {
      case 'Tversion': // answered in dispatch; here for the type checker's exhaustiveness
        return this.version(tag, m.msize, m.version);
      case 'Tauth':
        throw new Error(this.server.authError);
      case 'Tattach': {
        if (m.afid !== NOFID) throw new Error(this.server.authError);
        this.server.attach(m.uname, m.aname);
        this.claimable(m.fid);
        this.fids.set(m.fid, { path: [this.server.root], open: null, inflight: new Set() });
        return { type: 'Rattach', tag, qid: this.server.qidOf(this.server.root) };
      }
      case 'Tflush': {
        const old = this.pending.get(m.oldtag);
        if (old && old !== p) {
          old.flushed = true;
          old.controller?.abort(new Error(Errors.interrupted));
          await old.done;
        }
        return { type: 'Rflush', tag };
      }
      case 'Twalk':
        return this.walk(m, p);
      case 'Topen': {
        const fid = this.fid(m.fid);
        if (fid.open) throw new Error(Errors.alreadyOpen);
        const node = last(fid.path);
        this.checkOpen(fid.path, m.mode);
        const open = await this.openNode(node, m.mode);
        if (!this.alive(p) || this.fids.get(m.fid) !== fid || fid.open || last(fid.path) !== node) {
          await open.file?.close?.('drop');
          if (!this.alive(p)) return null;
          if (this.fids.get(m.fid) !== fid) throw new Error(Errors.unknownFid(m.fid));
          throw new Error(fid.open ? Errors.alreadyOpen : Errors.walkedWhileOpening);
        }
        fid.open = open;
        return { type: 'Ropen', tag, qid: this.server.qidOf(node), iounit: this.msize - IOHDRSZ };
      }
      case 'Tcreate':
        return this.create(m.fid, m.name, m.perm, m.mode, tag, p);
      case 'Tread': {
        const fid = this.fid(m.fid);
        const open = fid.open;
        if (!open) throw new Error(Errors.notOpen('read'));
        const node = last(fid.path);
        const access = open.mode & 3;
        if (access === OWRITE) throw new Error(Errors.notOpenFor(node.stat().name, 'reading'));
        if (m.offset > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(Errors.offsetTooLarge);
        const offset = Number(m.offset);
        const count = Math.min(m.count, this.msize - IOHDRSZ);
        if (open.dir) return { type: 'Rread', tag, data: await this.readDir(node as DirNode, open.dir, offset, count) };
        const file = open.file!;
        if (!file.read) return { type: 'Rread', tag, data: new Uint8Array(0) };
        if (file.readsNeverWait) {
          const data = await file.read(offset, count, NEVER_ABORTED);
          return { type: 'Rread', tag, data: data.length > count ? data.subarray(0, count) : data };
        }
        const { signal, finish } = this.signal(p, fid);
        try {
          const data = await file.read(offset, count, signal);
          return { type: 'Rread', tag, data: data.length > count ? data.subarray(0, count) : data };
        } finally {
          finish();
        }
      }
      case 'Twrite': {
        const fid = this.fid(m.fid);
        const open = fid.open;
        if (!open) throw new Error(Errors.notOpen('write'));
        const node = last(fid.path);
        const access = open.mode & 3;
        if (access !== OWRITE && access !== ORDWR) throw new Error(Errors.notOpenFor(node.stat().name, 'writing'));
        if (m.offset > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(Errors.offsetTooLarge);
        const file = open.file!;
        if (!file.write) throw new Error(Errors.permission(node.stat().name, 'cannot be written'));
        const n = await file.write(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.length), Number(m.offset));
        return { type: 'Rwrite', tag, count: typeof n === 'number' ? Math.min(n, m.data.length) : m.data.length };
      }
      case 'Tclunk': {
        const fid = this.fid(m.fid);
        this.fids.delete(m.fid);
        await this.release(fid, 'clunk');
        return { type: 'Rclunk', tag };
      }
      case 'Tremove': {
        // remove(5): the fid is clunked even when the remove fails.
        const fid = this.fid(m.fid);
        this.fids.delete(m.fid);
        if (fid.open) fid.open.mode &= ~ORCLOSE; // removed here, not again at the clunk
        try {
          await this.remove(fid.path);
        } finally {
          await this.release(fid, 'clunk');
        }
        return { type: 'Rremove', tag };
      }
      case 'Tstat':
        return { type: 'Rstat', tag, stat: this.server.statOf(last(this.fid(m.fid).path)) };
      case 'Twstat':
        await this.wstat(m);
        return { type: 'Rwstat', tag };
    }
  }

  private async walk(m: Twalk, p: Pending): Promise<RMessage | null> {
    const fid = this.fid(m.fid);
    if (fid.open) throw new Error(Errors.walkFromOpen);
    if (m.newfid !== m.fid) this.claimable(m.newfid);
    let path = fid.path;
    const qids: Qid[] = [];
    for (const [i, name] of m.wnames.entries()) {
      const here = last(path);
      if (!here.isDir) {
        if (i === 0) throw new Error(Errors.notDir(here.stat().name));
        break;
      }
      if (name === '..') {
        if (path.length > 1) path = path.slice(0, -1);
      } else {
        const child = validName(name) ? await here.lookup(name) : undefined;
        if (!child) {
          if (i === 0) throw new Error(Errors.notFound(name));
          break;
        }
        path = [...path, child];
      }
      qids.push(this.server.qidOf(last(path)));
    }
    if (!this.alive(p)) return null;
    if (qids.length === m.wnames.length) {
      if (this.fids.get(m.fid) !== fid) throw new Error(Errors.unknownFid(m.fid));
      if (m.newfid === m.fid) {
        if (fid.open) throw new Error(Errors.walkFromOpen); // opened while we walked
        fid.path = path;
      } else {
        this.claimable(m.newfid);
        this.fids.set(m.newfid, { path, open: null, inflight: new Set() });
      }
    }
    return { type: 'Rwalk', tag: m.tag, qids };
  }

  /** open(5): the mode is checked against the permissions, and directories only read. */
  private checkOpen(path: Node[], mode: number): void {
    const node = last(path);
    const st = node.stat();
    const access = mode & 3;
    if (node.isDir && ((access !== OREAD && access !== OEXEC) || mode & OTRUNC)) throw new Error(Errors.isDir(st.name));
    if ((access === OREAD || access === ORDWR) && !canRead(st.mode)) throw new Error(Errors.permission(st.name, 'is not readable'));
    if ((access === OWRITE || access === ORDWR || mode & OTRUNC) && !canWrite(st.mode)) {
      throw new Error(Errors.permission(st.name, 'is not writable'));
    }
    if (access === OEXEC && !node.isDir && (st.mode & 0o100) === 0) throw new Error(Errors.permission(st.name, 'is not executable'));
    if (mode & ORCLOSE) this.checkRemovable(path);
  }

  private async openNode(node: Node, mode: number): Promise<OpenState> {
    if (node.isDir) return { mode, file: null, dir: { entries: [], index: 0, offset: 0 } };
    return { mode, file: await node.open(mode), dir: null };
  }

  private checkRemovable(path: Node[]): void {
    if (path.length < 2) throw new Error(Errors.removeRoot);
    const node = last(path);
    const parent = path[path.length - 2]!.stat();
    if (!canWrite(parent.mode)) throw new Error(Errors.permission(parent.name, 'is not writable'));
    if (!node.remove) throw new Error(Errors.permission(node.stat().name, 'cannot be removed'));
  }

  private async remove(path: Node[]): Promise<void> {
    this.checkRemovable(path);
    await last(path).remove!();
  }

  private async readDir(dir: DirNode, state: DirReadState, offset: number, count: number): Promise<Uint8Array> {
    if (offset === 0) {
      const children = await dir.children();
      state.entries = [];
      for (const child of children) state.entries.push(encodeStat(this.server.statOf(child)));
      state.index = 0;
      state.offset = 0;
    } else if (offset !== state.offset) {
      throw new Error(Errors.dirOffset);
    }
    const parts: Buffer[] = [];
    let n = 0;
    while (state.index < state.entries.length && n + state.entries[state.index]!.length <= count) {
      const entry = state.entries[state.index++]!;
      parts.push(entry);
      n += entry.length;
    }
    if (parts.length === 0 && state.index < state.entries.length) throw new Error(Errors.dirCountTooSmall(count));
    state.offset += n;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
  }

  private async create(fidNum: number, name: string, perm: number, mode: number, tag: number, p: Pending): Promise<RMessage | null> {
    const fid = this.fid(fidNum);
    if (fid.open) throw new Error(Errors.alreadyOpen);
    const dir = last(fid.path);
    const dirStat = dir.stat();
    if (!dir.isDir) throw new Error(Errors.notDir(dirStat.name));
    checkNewName(name);
    if (!canWrite(dirStat.mode)) throw new Error(Errors.permission(dirStat.name, 'is not writable'));
    if (!dir.create) throw new Error(Errors.permission(dirStat.name, 'does not allow creating files'));
    const isDir = (perm & DMDIR) !== 0;
    if (isDir && ((mode & 3) !== OREAD || mode & OTRUNC)) throw new Error(Errors.isDir(name));
    if (await dir.lookup(name)) throw new Error(Errors.exists(name));
    // create(5): the new file's permissions are limited by the directory's.
    const mask = isDir ? 0o777 : 0o666;
    const finalPerm = (perm & (~mask | (dirStat.mode & mask))) >>> 0;
    const child = await dir.create(name, finalPerm, mode);
    const open = await this.openNode(child, mode);
    if (!this.alive(p) || this.fids.get(fidNum) !== fid || fid.open || last(fid.path) !== dir) {
      await open.file?.close?.('drop');
      if (!this.alive(p)) return null;
      throw new Error(Errors.unknownFid(fidNum));
    }
    fid.path = [...fid.path, child];
    fid.open = open;
    return { type: 'Rcreate', tag, qid: this.server.qidOf(child), iounit: this.msize - IOHDRSZ };
  }

  /** wstat(5): validate every field first, then apply all or nothing through the node. */
  private async wstat(m: Twstat): Promise<void> {
    const fid = this.fid(m.fid);
    const node = last(fid.path);
    const cur = this.server.statOf(node);
    const want = m.stat;
    const name = cur.name;
    const refuse = (what: string) => new Error(Errors.wstatUnsupported(name, what));
    if (want.type !== DONT_TOUCH.u16 && want.type !== cur.type) throw refuse('its type');
    if (want.dev !== DONT_TOUCH.u32 && want.dev !== cur.dev) throw refuse('its dev');
    const q = want.qid;
    const qidUntouched = q.type === DONT_TOUCH.qid.type && q.version === DONT_TOUCH.qid.version && q.path === DONT_TOUCH.qid.path;
    if (!qidUntouched && (q.path !== cur.qid.path || q.type !== cur.qid.type || q.version !== cur.qid.version)) throw refuse('its qid');
    if (want.uid !== '' && want.uid !== cur.uid) throw refuse('its owner');
    const change: StatChange = {};
    if (want.mode !== DONT_TOUCH.u32 && want.mode !== cur.mode) {
      if (((want.mode ^ cur.mode) & DMDIR) !== 0) throw refuse('whether it is a directory');
      change.mode = want.mode >>> 0;
    }
    if (want.length !== DONT_TOUCH.u64) {
      if (node.isDir) {
        if (want.length !== 0n) throw new Error(Errors.isDir(name));
      } else {
        if (!canWrite(cur.mode)) throw new Error(Errors.permission(name, 'is not writable'));
        if (want.length > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(Errors.offsetTooLarge);
        change.length = Number(want.length);
      }
    }
    if (want.name !== '' && want.name !== name) {
      checkNewName(want.name);
      if (fid.path.length < 2) throw refuse('its name');
      const parent = fid.path[fid.path.length - 2] as DirNode;
      if (!canWrite(parent.stat().mode)) throw new Error(Errors.permission(parent.stat().name, 'is not writable'));
      if (await parent.lookup(want.name)) throw new Error(Errors.exists(want.name));
      change.name = want.name;
    }
    if (want.gid !== '' && want.gid !== cur.gid) change.gid = want.gid;
    if (want.atime !== DONT_TOUCH.u32) change.atime = want.atime;
    if (want.mtime !== DONT_TOUCH.u32) change.mtime = want.mtime;
    const fields = Object.keys(change);
    if (fields.length === 0) return;
    if (node.wstat) return node.wstat(change);
    const substantive = fields.filter((f) => f !== 'atime' && f !== 'mtime');
    if (substantive.length > 0) throw refuse(substantive.join(' and '));
  }
}
