/**
 * Ready-made nodes for the shapes of file a synthetic file server needs most: fixed and computed
 * directories, files whose content is computed at open (and written back at clunk), and files
 * whose reads block until something happens.
 */
import { DMDIR } from './constants.js';
import type { CloseReason, DirNode, FileNode, Node, NodeStat, OpenFile, StatChange } from './tree.js';
import { newQidPath, startTime } from './tree.js';


function toBytes(content: string | Uint8Array): Uint8Array {
  return typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
}

/** A directory whose children are set by the program (the clients cannot create or remove). */
export class StaticDir implements DirNode {
  readonly isDir = true;
  readonly qidPath = newQidPath();
  private readonly entries = new Map<string, Node>();

  constructor(
    readonly name: string,
    children: Node[] = [],
    readonly perm = 0o555,
  ) {
    for (const child of children) this.add(child);
  }

  add(node: Node): this {
    this.entries.set(node.stat().name, node);
    return this;
  }

  delete(name: string): boolean {
    return this.entries.delete(name);
  }

  stat(): NodeStat {
    return { name: this.name, mode: DMDIR | this.perm, mtime: startTime, atime: startTime };
  }

  lookup(name: string): Node | undefined {
    return this.entries.get(name);
  }

  children(): Iterable<Node> {
    return this.entries.values();
  }
}

export interface ComputedDirOptions {
  name: string;
  perm?: number;
  /** Called at every walk. */
  lookup(name: string): Node | undefined | Promise<Node | undefined>;
  /** Called at every directory read from offset 0. */
  children(): Iterable<Node> | Promise<Iterable<Node>>;
}

/** A directory whose children are computed when a client walks or lists it. */
export class ComputedDir implements DirNode {
  readonly isDir = true;
  readonly qidPath = newQidPath();

  constructor(private readonly options: ComputedDirOptions) {}

  stat(): NodeStat {
    return { name: this.options.name, mode: DMDIR | (this.options.perm ?? 0o555), mtime: startTime, atime: startTime };
  }

  lookup(name: string): Node | undefined | Promise<Node | undefined> {
    return this.options.lookup(name);
  }

  children(): Iterable<Node> | Promise<Iterable<Node>> {
    return this.options.children();
  }
}

export interface SnapshotFileOptions {
  name: string;
  /** Called at each open with its mode; throw to refuse the open (its text is the client's error). */
  allow?(mode: number): void;
  /** Permission bits; default 0444, 0222 or 0666 from which of read/commit are given. */
  perm?: number;
  /** The content, computed at each open for reading and held by that open. */
  read?(): string | Uint8Array | Promise<string | Uint8Array>;
  /** stat's length, when it is cheap to know; default 0. */
  length?(): number;
  /**
   * Checks one write before it is kept; throw to refuse it (the Twrite fails, nothing is kept).
   * `written` is what the open holds so far: look at a bounded part of it, or the writes of a
   * big file cost the square of its size.
   */
  check?(data: Buffer, written: Buffer): void;
  /**
   * Bytes one open may write; the write that goes past it fails, what the open held is dropped
   * and its later writes fail too (nothing is committed). Default 1 MiB.
   */
  maxBytes?: number;
  /** All bytes written on one open, delivered at clunk when there was at least one write. */
  commit?(data: Buffer): void | Promise<void>;
}

/**
 * A file whose content is computed at open and held for that open, so reads at any offset agree;
 * writes are buffered per open (offsets ignored, as in a ctl file) and delivered at clunk. A
 * dropped connection delivers nothing: half a write is not a write.
 */
export class SnapshotFile implements FileNode {
  readonly isDir = false;
  readonly qidPath = newQidPath();
  mtime = startTime;

  constructor(private readonly options: SnapshotFileOptions) {}

  get name(): string {
    return this.options.name;
  }

  stat(): NodeStat {
    const { read, commit, perm, length } = this.options;
    const mode = perm ?? (read ? 0o444 : 0) | (commit ? 0o222 : 0);
    return { name: this.options.name, mode, length: length?.() ?? 0, mtime: this.mtime, atime: this.mtime };
  }

  /** Truncation means nothing to a file whose writes replace its value: accept it as `echo x >` needs. */
  wstat(change: StatChange): void {
    if (change.length !== undefined && change.length !== 0) throw new Error(`${this.options.name}: only truncation to 0 is allowed`);
    if (change.name !== undefined || change.mode !== undefined || change.gid !== undefined) {
      throw new Error(`permission denied: ${this.options.name} cannot be renamed or changed`);
    }
  }

  async open(mode: number): Promise<OpenFile> {
    const { read, check, commit, allow } = this.options;
    allow?.(mode);
    const reading = (mode & 3) === 0 || (mode & 3) === 2;
    const content = reading && read ? toBytes(await read()) : new Uint8Array(0);
    const limit = this.options.maxBytes ?? 1 << 20;
    let buf = Buffer.alloc(0);
    let size = 0;
    let wrote = false;
    // Past the cap the open keeps nothing and refuses the rest: half a write is not a write.
    let refused: string | null = null;
    return {
      readsNeverWait: true,
      read: (offset, count) => content.subarray(offset, offset + count),
      write: (data) => {
        if (refused === null && size + data.length > limit) {
          refused = `${this.options.name}: write too long: at most ${limit} bytes per open; open it again`;
          buf = Buffer.alloc(0);
          size = 0;
          wrote = false;
        }
        if (refused !== null) throw new Error(refused);
        check?.(data, buf.subarray(0, size));
        if (size + data.length > buf.length) {
          const grown = Buffer.alloc(Math.min(limit, Math.max(size + data.length, buf.length * 2, 256)));
          buf.copy(grown, 0, 0, size);
          buf = grown;
        }
        data.copy(buf, size);
        size += data.length;
        wrote = true;
      },
      close: async (reason: CloseReason) => {
        if (reason !== 'clunk' || !wrote || !commit) return;
        this.mtime = Math.floor(Date.now() / 1000);
        await commit(Buffer.from(buf.subarray(0, size)));
      },
    };
  }
}

export interface StreamFileOptions {
  name: string;
  perm?: number;
  /**
   * Called at each open: deliver data with `push` from now on; return the function that stops it.
   * Each push is kept whole where a read's count allows (lines stay lines).
   */
  subscribe(push: (data: string | Uint8Array) => void): () => void;
  /** Bytes one open may hold unread before it is cut off with an error; default 1 MiB. */
  maxBuffered?: number;
}

/**
 * A file that never ends: each open sees what is pushed from its open on, and a read waits until
 * there is something. A reader that falls more than `maxBuffered` behind gets an error, never a
 * silent gap.
 */
export class StreamFile implements FileNode {
  readonly isDir = false;
  readonly qidPath = newQidPath();

  constructor(private readonly options: StreamFileOptions) {}

  stat(): NodeStat {
    return { name: this.options.name, mode: this.options.perm ?? 0o444, length: 0, mtime: startTime, atime: startTime };
  }

  open(): OpenFile {
    const limit = this.options.maxBuffered ?? 1 << 20;
    const queue: Uint8Array[] = [];
    let buffered = 0;
    let overflowed = false;
    const waiters = new Set<() => void>();
    const wakeAll = () => {
      for (const wake of waiters) wake();
      waiters.clear();
    };
    const unsubscribe = this.options.subscribe((data) => {
      if (overflowed) return;
      const bytes = toBytes(data);
      if (bytes.length === 0) return;
      buffered += bytes.length;
      if (buffered > limit) {
        overflowed = true;
        queue.length = 0;
      } else {
        queue.push(bytes);
      }
      wakeAll();
    });
    const name = this.options.name;
    return {
      read: async (_offset, count, signal) => {
        while (queue.length === 0 && !overflowed) await dataOrAbort(waiters, signal);
        if (overflowed) throw new Error(`${name}: reader fell more than ${limit} bytes behind; open it again`);
        return take(queue, count, (n) => (buffered -= n));
      },
      close: () => {
        unsubscribe();
        wakeAll();
      },
    };
  }
}

function dataOrAbort(waiters: Set<() => void>, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const wake = () => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    };
    const onAbort = () => {
      waiters.delete(wake);
      reject(signal.reason);
    };
    waiters.add(wake);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Takes whole chunks from the queue while they fit in `count`; splits the first one only if it alone does not. */
function take(queue: Uint8Array[], count: number, consumed: (n: number) => void): Uint8Array {
  const first = queue[0]!;
  if (first.length >= count) {
    if (first.length === count) queue.shift();
    else queue[0] = first.subarray(count);
    consumed(count);
    return first.subarray(0, count);
  }
  const parts: Uint8Array[] = [];
  let n = 0;
  while (queue.length > 0 && n + queue[0]!.length <= count) {
    const chunk = queue.shift()!;
    parts.push(chunk);
    n += chunk.length;
  }
  consumed(n);
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}
