/**
 * ramfs: an in-memory file server, posted as $NAMESPACE/<name> (default "ramfs").
 *
 *   node dist/examples/ramfs.js [name]
 *   9p ls ramfs; echo hello | 9p write ramfs/file; 9pfuse ramfs /mnt/ramfs
 *
 * It shows how small a real file server is on src/ninep: a directory and a file node, each a
 * page, with create, remove, read, write, truncate, rename and times. It is also the interop
 * target the recorded plan9port traffic is replayed against.
 */
import { fileURLToPath } from 'node:url';

import { DMAPPEND, DMDIR, OTRUNC } from '../src/ninep/constants.js';
import { post } from '../src/ninep/namespace.js';
import { Server } from '../src/ninep/server.js';
import type { DirNode, FileNode, Node, NodeStat, OpenFile, StatChange } from '../src/ninep/tree.js';
import { newQidPath } from '../src/ninep/tree.js';

const now = () => Math.floor(Date.now() / 1000);

/** Like plan 9's ramfs, refuse files that would hold the server's memory hostage. */
export const MAX_FILE_SIZE = 16 << 20;

abstract class MemNode {
  readonly qidPath = newQidPath();
  atime = now();
  mtime = this.atime;
  version = 0;
  gid: string | undefined;

  constructor(
    public name: string,
    public perm: number,
    public parent: MemDir | null,
  ) {}

  protected statBase(length: number): NodeStat {
    return { name: this.name, mode: this.perm, length, atime: this.atime, mtime: this.mtime, version: this.version, gid: this.gid };
  }

  /** Still in its directory: a fid can outlive the remove of its file, and a new file can take the name. */
  protected get linked(): boolean {
    return this.parent === null || this.parent.lookup(this.name) === (this as unknown);
  }

  protected mustBeLinked(): void {
    if (!this.linked) throw new Error(`'${this.name}' file does not exist: it was removed`);
  }

  /** The server validated the change (permissions, name free, DMDIR kept); apply it. */
  protected applyChange(change: StatChange): void {
    if (change.name !== undefined && this.parent) this.parent.rename(this as unknown as Node, this.name, change.name);
    if (change.mode !== undefined) this.perm = (this.perm & DMDIR) | (change.mode & ~DMDIR);
    if (change.gid !== undefined) this.gid = change.gid;
    if (change.atime !== undefined) this.atime = change.atime;
    if (change.mtime !== undefined) this.mtime = change.mtime;
  }
}

export class MemFile extends MemNode implements FileNode {
  readonly isDir = false;
  private data: Buffer = Buffer.alloc(0);
  private size = 0;

  stat(): NodeStat {
    return this.statBase(this.size);
  }

  get contents(): Buffer {
    return this.data.subarray(0, this.size);
  }

  truncate(length: number): void {
    if (length > MAX_FILE_SIZE) throw new Error(`file too long: ramfs files hold at most ${MAX_FILE_SIZE} bytes`);
    if (length > this.data.length) {
      const grown = Buffer.alloc(Math.max(length, this.data.length * 2));
      this.data.copy(grown, 0, 0, this.size);
      this.data = grown;
    } else if (length > this.size) {
      this.data.fill(0, this.size, length);
    }
    this.size = length;
    this.touch();
  }

  private touch(): void {
    this.mtime = now();
    this.version++;
  }

  wstat(change: StatChange): void {
    if (change.name !== undefined) this.mustBeLinked();
    if (change.length !== undefined) this.truncate(change.length);
    this.applyChange(change);
  }

  remove(): void {
    this.mustBeLinked();
    this.parent?.unlink(this.name);
  }

  open(mode: number): OpenFile {
    if (mode & OTRUNC) this.truncate(0);
    return {
      readsNeverWait: true,
      read: (offset, count) => {
        this.atime = now();
        return Buffer.from(this.data.subarray(Math.min(offset, this.size), Math.min(offset + count, this.size)));
      },
      write: (data, offset) => {
        const at = this.perm & DMAPPEND ? this.size : offset;
        const end = at + data.length;
        if (end > MAX_FILE_SIZE) throw new Error(`write too long: ramfs files hold at most ${MAX_FILE_SIZE} bytes`);
        if (end > this.size) this.truncate(end);
        data.copy(this.data, at);
        this.touch();
        return data.length;
      },
    };
  }
}

export class MemDir extends MemNode implements DirNode {
  readonly isDir = true;
  private readonly entries = new Map<string, MemFile | MemDir>();

  stat(): NodeStat {
    return this.statBase(0);
  }

  lookup(name: string): Node | undefined {
    return this.entries.get(name);
  }

  children(): Iterable<Node> {
    return this.entries.values();
  }

  create(name: string, perm: number): Node {
    this.mustBeLinked();
    const node = perm & DMDIR ? new MemDir(name, perm, this) : new MemFile(name, perm, this);
    this.entries.set(name, node);
    this.mtime = now();
    this.version++;
    return node;
  }

  wstat(change: StatChange): void {
    if (change.name !== undefined) this.mustBeLinked();
    this.applyChange(change);
  }

  remove(): void {
    this.mustBeLinked();
    if (this.entries.size > 0) throw new Error(`'${this.name}' directory not empty: remove its files first`);
    this.parent?.unlink(this.name);
  }

  unlink(name: string): void {
    this.entries.delete(name);
    this.mtime = now();
    this.version++;
  }

  rename(node: Node, from: string, to: string): void {
    this.entries.delete(from);
    this.entries.set(to, node as MemFile | MemDir);
    (node as unknown as MemNode).name = to;
  }
}

/** An empty ramfs; its root has plan9port ramfs's mode, 0775. */
export function createRamfs(): MemDir {
  return new MemDir('/', DMDIR | 0o775, null);
}

async function main(): Promise<void> {
  const name = process.argv[2] ?? 'ramfs';
  const server = new Server(createRamfs(), { log: (line) => console.error(line) });
  const posted = await post(name, server);
  console.error(`ramfs: serving ${posted.path} (try: 9p ls ${name})`);
  const stop = () => {
    server.closeAll();
    void posted.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: unknown) => {
    console.error(`ramfs: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
