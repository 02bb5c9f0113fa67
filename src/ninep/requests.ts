/**
 * One small function per request type; `handle` only routes. A handler answers at once when the
 * tree does (an in-memory tree never makes a promise) and with a promise when a node does; it
 * throws an Error whose message is the Rerror text. null means "no reply": the request was
 * flushed or its connection reset while it ran.
 */
import { Buffer } from 'node:buffer';
import { DMDIR, IOHDRSZ, MessageType, NOFID, OEXEC, OREAD, ORCLOSE, ORDWR, OTRUNC, OWRITE } from './constants.js';
import type { Connection, Request } from './connection.js';
import { Errors } from './errors.js';
import type { OpenState } from './fids.js';
import { Fid, openDir, readDir } from './fids.js';
import type { Maybe } from './maybe.js';
import { andFinally, andThen, isPromise } from './maybe.js';
import type { Qid, RMessage, TMessage, Tattach, Tclunk, Tcreate, Tflush, Topen, Tread, Twalk, Twrite } from './messages.js';
import type { DirNode, Node } from './tree.js';
import { checkNewName, checkRemovable, validName, wstat } from './wstat.js';

type Answer = Maybe<RMessage | null>;

/**
 * `type` is the message's type number, from its frame: a switch on it is a jump, where one on
 * `m.type` reads a field that sees every shape of message and tests strings in turn.
 */
export function handle(c: Connection, m: TMessage, p: Request, type: number): Answer {
  switch (type) {
    case MessageType.Twalk:
      return walk(c, m as Twalk, p);
    case MessageType.Topen:
      return open(c, m as Topen, p);
    case MessageType.Tread:
      return read(c, m as Tread, p);
    case MessageType.Tclunk:
      return andThen(clunk(c, (m as Tclunk).fid), () => ({ type: 'Rclunk', tag: m.tag }));
    case MessageType.Twrite:
      return write(c, m as Twrite);
  }
  return handleRest(c, m as Exclude<TMessage, Twalk | Topen | Tread | Tclunk | Twrite>, p);
}

/** The requests other than those of the common round trips above. */
function handleRest(c: Connection, m: Exclude<TMessage, Twalk | Topen | Tread | Tclunk | Twrite>, p: Request): Answer {
  switch (m.type) {
    case 'Tstat':
      return { type: 'Rstat', tag: m.tag, stat: c.server.statOf(c.fid(m.fid).node) };
    case 'Tversion': // answered by the connection, which resets itself; here for exhaustiveness
      throw new Error(Errors.internal('Tversion routed to a handler'));
    case 'Tauth':
      throw new Error(c.server.authError);
    case 'Tattach':
      return attach(c, m);
    case 'Tflush':
      return flush(c, m, p);
    case 'Tcreate':
      return create(c, m, p);
    case 'Tremove':
      return andThen(remove(c, m.fid), () => ({ type: 'Rremove', tag: m.tag }));
    case 'Twstat':
      return andThen(wstat(c.server, c.fid(m.fid), m.stat), () => ({ type: 'Rwstat', tag: m.tag }));
  }
}

function attach(c: Connection, m: Tattach): RMessage {
  if (m.afid !== NOFID) throw new Error(c.server.authError);
  c.server.attach(m.uname, m.aname);
  c.claimable(m.fid);
  c.fids.set(m.fid, new Fid([c.server.root]));
  return { type: 'Rattach', tag: m.tag, qid: c.server.qidOf(c.server.root) };
}

function flush(c: Connection, m: Tflush, p: Request): Maybe<RMessage> {
  return andThen(c.cancel(m.oldtag, p), () => ({ type: 'Rflush', tag: m.tag }));
}

function walk(c: Connection, m: Twalk, p: Request): Answer {
  const fid = c.fid(m.fid);
  if (fid.open) throw new Error(Errors.walkFromOpen);
  if (m.newfid !== m.fid) c.claimable(m.newfid);
  return walkOn(c, m, p, fid, fid.path, []);
}

/** Walks the names of `m` after those already walked (one qid each), then answers. */
function walkOn(c: Connection, m: Twalk, p: Request, fid: Fid, path: Node[], qids: Qid[]): Answer {
  for (let i = qids.length; i < m.wnames.length; i++) {
    const here = path[path.length - 1]!;
    const name = m.wnames[i]!;
    if (!here.isDir) {
      if (i === 0) throw new Error(Errors.notDir(here.stat().name));
      break;
    }
    if (name === '..') {
      path = path.length > 1 ? path.slice(0, -1) : path;
    } else {
      const found = validName(name) ? here.lookup(name) : undefined;
      if (found instanceof Promise) {
        return found.then((child) => (child ? walkOn(c, m, p, fid, [...path, child], [...qids, c.server.qidOf(child)]) : walked(c, m, p, fid, path, qids)));
      }
      if (!found) break;
      path = [...path, found];
    }
    qids.push(c.server.qidOf(path[path.length - 1]!));
  }
  return walked(c, m, p, fid, path, qids);
}

function walked(c: Connection, m: Twalk, p: Request, fid: Fid, path: Node[], qids: Qid[]): RMessage | null {
  if (!c.alive(p)) return null;
  if (qids.length === 0 && m.wnames.length > 0) throw new Error(Errors.notFound(m.wnames[0]!));
  // A walk from a fid clunked while it ran still makes its newfid: in arrival order (lib9p's)
  // the walk came first.
  if (qids.length === m.wnames.length) {
    if (m.newfid === m.fid) {
      fid.path = path;
    } else {
      c.claimable(m.newfid);
      c.fids.set(m.newfid, new Fid(path));
    }
  }
  return { type: 'Rwalk', tag: m.tag, qids };
}

function open(c: Connection, m: Topen, p: Request): Answer {
  const fid = c.fid(m.fid);
  if (fid.open) throw new Error(Errors.alreadyOpen);
  const node = fid.node;
  checkOpen(fid.path, m.mode);
  return andThen(openNode(node, m.mode), (open) => {
    const refused = opened(c, p, fid, m.fid, open, node);
    if (refused !== undefined) return refused;
    return { type: 'Ropen', tag: m.tag, qid: c.server.qidOf(node), iounit: c.msize - IOHDRSZ };
  });
}

function openNode(node: Node, mode: number): Maybe<OpenState> {
  if (node.isDir) return openDir(mode);
  return andThen(node.open(mode), (file) => ({ mode, file, dir: null }));
}

/**
 * Gives `fid` the file opened for it, unless the connection was reset or the fid went away while
 * it opened: then the file is closed again and the answer (null or the error) returned.
 */
function opened(c: Connection, p: Request, fid: Fid, n: number, open: OpenState, at: Node): Maybe<null> | undefined {
  if (c.alive(p) && c.fids.get(n) === fid && !fid.open && fid.node === at) {
    fid.open = open;
    return undefined;
  }
  return andThen(open.file?.close?.('drop'), () => {
    if (!c.alive(p)) return null;
    throw new Error(c.fids.get(n) !== fid ? Errors.unknownFid(n) : Errors.alreadyOpen);
  });
}

/** open(5): the mode is checked against the permissions, and directories only read. */
function checkOpen(path: Node[], mode: number): void {
  const node = path[path.length - 1]!;
  const st = node.stat();
  const access = mode & 3;
  if (node.isDir && ((access !== OREAD && access !== OEXEC) || mode & OTRUNC)) throw new Error(Errors.isDir(st.name));
  if ((access === OREAD || access === ORDWR) && (st.mode & 0o400) === 0) throw new Error(Errors.permission(st.name, 'is not readable'));
  if ((access === OWRITE || access === ORDWR || mode & OTRUNC) && (st.mode & 0o200) === 0) {
    throw new Error(Errors.permission(st.name, 'is not writable'));
  }
  if (access === OEXEC && !node.isDir && (st.mode & 0o100) === 0) throw new Error(Errors.permission(st.name, 'is not executable'));
  if (mode & ORCLOSE) checkRemovable(path);
}

function create(c: Connection, m: Tcreate, p: Request): Answer {
  const fid = c.fid(m.fid);
  if (fid.open) throw new Error(Errors.alreadyOpen);
  const dir = fid.node;
  const dirStat = dir.stat();
  if (!dir.isDir) throw new Error(Errors.notDir(dirStat.name));
  checkNewName(m.name);
  if ((dirStat.mode & 0o200) === 0) throw new Error(Errors.permission(dirStat.name, 'is not writable'));
  if (!dir.create) throw new Error(Errors.permission(dirStat.name, 'does not allow creating files'));
  const isDir = (m.perm & DMDIR) !== 0;
  if (isDir && ((m.mode & 3) !== OREAD || m.mode & OTRUNC)) throw new Error(Errors.isDir(m.name));
  // create(5): the new file's permissions are limited by the directory's.
  const mask = isDir ? 0o777 : 0o666;
  const perm = (m.perm & (~mask | (dirStat.mode & mask))) >>> 0;
  return andThen(dir.lookup(m.name), (existing) => {
    if (existing) throw new Error(Errors.exists(m.name));
    return andThen(dir.create!(m.name, perm, m.mode), (child) =>
      andThen(openNode(child, m.mode), (open) => {
        const refused = opened(c, p, fid, m.fid, open, dir);
        if (refused !== undefined) return refused;
        fid.path = [...fid.path, child];
        return { type: 'Rcreate', tag: m.tag, qid: c.server.qidOf(child), iounit: c.msize - IOHDRSZ };
      }),
    );
  });
}

function read(c: Connection, m: Tread, p: Request): Answer {
  const fid = c.fid(m.fid);
  const open = fid.open;
  if (!open) throw new Error(Errors.notOpen('read'));
  if ((open.mode & 3) === OWRITE) throw new Error(Errors.notOpenFor(fid.node.stat().name, 'reading'));
  if (m.offset > MAX_OFFSET) throw new Error(Errors.offsetTooLarge);
  const offset = Number(m.offset);
  const count = Math.min(m.count, c.msize - IOHDRSZ);
  const data = (bytes: Uint8Array): RMessage => rread(m.tag, count, bytes);
  if (open.dir) return andThen(readDir(fid.node as DirNode, open.dir, offset, count, (n) => c.server.statOf(n)), data);
  const file = open.file!;
  if (!file.read) return data(new Uint8Array(0));
  if (file.readsNeverWait) {
    // The hot path of a file in memory: no closure made when the answer is there at once.
    const got = fid.track(file.read(offset, count, NEVER_ABORTED));
    return isPromise(got) ? got.then(data) : rread(m.tag, count, got);
  }
  // A read that may wait is cancelled by a flush of it, or by the fid going away; a clunk does
  // not wait for it (a file may still answer it after its close, as acme's event file does).
  const controller = fid.abortable();
  p.controller = controller;
  return andThen(
    andFinally(() => file.read!(offset, count, controller.signal), () => fid.settled(controller)),
    data,
  );
}

function rread(tag: number, count: number, bytes: Uint8Array): RMessage {
  return { type: 'Rread', tag, data: bytes.length > count ? bytes.subarray(0, count) : bytes };
}

const NEVER_ABORTED = new AbortController().signal;
/** The largest offset a file is read or written at: a JS number's exact integers. */
const MAX_OFFSET = BigInt(Number.MAX_SAFE_INTEGER);

function write(c: Connection, m: Twrite): Answer {
  const fid = c.fid(m.fid);
  const open = fid.open;
  if (!open) throw new Error(Errors.notOpen('write'));
  const access = open.mode & 3;
  if (access !== OWRITE && access !== ORDWR) throw new Error(Errors.notOpenFor(fid.node.stat().name, 'writing'));
  if (m.offset > MAX_OFFSET) throw new Error(Errors.offsetTooLarge);
  const file = open.file!;
  if (!file.write) throw new Error(Errors.permission(fid.node.stat().name, 'cannot be written'));
  const data = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.length);
  return andThen(fid.track(file.write(data, Number(m.offset))), (n) => ({
    type: 'Rwrite',
    tag: m.tag,
    count: typeof n === 'number' ? Math.min(n, m.data.length) : m.data.length,
  }));
}

function clunk(c: Connection, n: number): Maybe<void> {
  const fid = c.fid(n);
  c.fids.delete(n);
  return fid.release('clunk');
}

/** remove(5): the fid is clunked even when the remove fails. */
function remove(c: Connection, n: number): Maybe<void> {
  const fid = c.fid(n);
  c.fids.delete(n);
  if (fid.open) fid.open.mode &= ~ORCLOSE; // removed here, not again at the clunk
  const failed = (e: unknown) =>
    andThen(fid.release('clunk'), () => {
      throw e;
    });
  let removed: Maybe<void>;
  try {
    checkRemovable(fid.path);
    removed = fid.node.remove!();
  } catch (e) {
    return failed(e);
  }
  if (!isPromise(removed)) return fid.release('clunk');
  return removed.then(() => fid.release('clunk'), failed);
}
