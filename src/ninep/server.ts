/**
 * A 9P2000 server over any byte stream: the options every connection shares and the stat of a
 * node. Each connection (connection.ts) keeps its own fids and routes each request to its
 * handler (requests.ts).
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';

import { Connection, MIN_MSIZE } from './connection.js';
import { DMDIR, IOHDRSZ } from './constants.js';
import { Errors } from './errors.js';
import type { Qid, Stat } from './messages.js';
import { currentUser, resolveAddress } from './namespace.js';
import { readIntoOwnBuffer } from './own-buffer.js';
import type { DirNode, Node } from './tree.js';
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
    const conn = this.connect(stream);
    stream.on('data', (chunk: Buffer) => conn.receive(chunk, false));
  }

  /** Serves 9P on a socket accepted paused, read into a buffer of the connection's own. */
  private accept(accepted: net.Socket): void {
    let conn: Connection | null = null; // set before the first read, which comes on a later turn of the loop
    const socket = readIntoOwnBuffer(accepted, this.msize, (chunk, borrowed) => conn?.receive(chunk, borrowed));
    conn = this.connect(socket);
  }

  private connect(stream: Duplex): Connection {
    const conn = new Connection(this, stream, () => this.live.delete(conn));
    this.live.add(conn);
    return conn;
  }

  /** Listens on `unix!/path`, `tcp!host!port` or a plain socket path. */
  async listen(address: string): Promise<net.Server> {
    const listener = net.createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
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
