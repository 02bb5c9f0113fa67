/**
 * The file-tree API: a server serves a tree of nodes. Nodes are small objects whose handlers
 * compute what a client sees: stat at stat time, children at walk and read time, content per open.
 * Handlers report failure by throwing an Error; its message becomes the Rerror text, so word it
 * for the user and for 9pfuse's errno mapping ("does not exist", "permission denied", "exists",
 * "is a directory", "not a directory").
 */

/** What stat shows of a node. Missing fields take the server's defaults. */
export interface NodeStat {
  name: string;
  /** Permission bits, plus DMDIR / DMAPPEND / DMEXCL / DMTMP. DMDIR must agree with the node kind. */
  mode: number;
  length?: number;
  /** Seconds since the epoch. */
  atime?: number;
  mtime?: number;
  uid?: string;
  gid?: string;
  muid?: string;
  /** qid.version: bump it when the content changes. */
  version?: number;
}

/** The fields a Twstat asks to change; absent means "don't touch". Validated by the server first. */
export interface StatChange {
  name?: string;
  mode?: number;
  length?: number;
  atime?: number;
  mtime?: number;
  gid?: string;
}

/** How a file was left: `clunk` is a client's Tclunk; `drop` a lost connection or a new Tversion. */
export type CloseReason = 'clunk' | 'drop';

/** One open of a file: the state a client holds between Topen and Tclunk. */
export interface OpenFile {
  /**
   * Up to `count` bytes at `offset`; an empty result is end of file. May wait for data: when the
   * client flushes the read (or the fid goes away) `signal` aborts, and the promise should reject.
   */
  read?(offset: number, count: number, signal: AbortSignal): Uint8Array | Promise<Uint8Array>;
  /** Returns the bytes consumed (all of them if it returns nothing). */
  write?(data: Buffer, offset: number): number | void | Promise<number | void>;
  /** Called once, when the fid is clunked, removed, or dropped with its connection. */
  close?(reason: CloseReason): void | Promise<void>;
  /**
   * True when `read` always answers at once (held content, memory): the server then passes a
   * signal that never aborts and skips the per-read abort bookkeeping, a hot path for ramfs-like
   * files. A file whose reads may wait must leave it unset, or a flush could not cancel them.
   */
  readsNeverWait?: boolean;
}

interface NodeBase {
  /** Stable identity: qid.path. Two nodes never share one while both exist. */
  readonly qidPath: bigint;
  stat(): NodeStat;
  /** Without it the server accepts only changes of atime/mtime (and ignores them). */
  wstat?(change: StatChange): void | Promise<void>;
  /** Without it, remove is refused. The server has checked write permission on the parent. */
  remove?(): void | Promise<void>;
}

export interface FileNode extends NodeBase {
  readonly isDir: false;
  /** `mode` is the Topen mode (OREAD.. | OTRUNC | ORCLOSE), already checked against the permissions. */
  open(mode: number): OpenFile | Promise<OpenFile>;
}

export interface DirNode extends NodeBase {
  readonly isDir: true;
  /** The child called `name`, or undefined. Never called with "..", "" or a name containing "/". */
  lookup(name: string): Node | undefined | Promise<Node | undefined>;
  /** The children a directory read lists, computed at each read from offset 0. */
  children(): Iterable<Node> | Promise<Iterable<Node>>;
  /** Without it, create is refused. The name is new and valid; `perm` already masked by ours. */
  create?(name: string, perm: number, mode: number): Node | Promise<Node>;
}

export type Node = FileNode | DirNode;

/** When this process started serving: the times of nodes that name none. */
export const startTime = Math.floor(Date.now() / 1000);

let lastQidPath = 0n;

/** A qid.path no other node of this process has. */
export function newQidPath(): bigint {
  return ++lastQidPath;
}

