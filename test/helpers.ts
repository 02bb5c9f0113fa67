/** Shared test plumbing: private temp dirs, servers on real unix sockets, and a raw 9P wire. */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import type { Message, RMessage, TMessage } from '../src/ninep/messages.js';
import { DecodeError, MessageFramer, decode } from '../src/ninep/parser.js';
import { encode } from '../src/ninep/serializer.js';
import { Server, type ServerOptions } from '../src/ninep/server.js';
import type { DirNode } from '../src/ninep/tree.js';

/** A fresh 0700 directory, removed by the returned function. */
export function tempDir(prefix = 'anvillm-test-'): { dir: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o700);
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export interface Served {
  server: Server;
  socketPath: string;
  close(): Promise<void>;
}

/** Serves `root` on a unix socket in a private temp dir. */
export async function serve(root: DirNode, options: ServerOptions = {}): Promise<Served> {
  const tmp = tempDir();
  const socketPath = path.join(tmp.dir, 'srv');
  const server = new Server(root, options);
  const listener = await server.listen(`unix!${socketPath}`);
  return {
    server,
    socketPath,
    close: async () => {
      server.closeAll();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
      tmp.remove();
    },
  };
}

/** A 9P connection at the byte level: send anything, read replies one by one. */
export class Wire {
  private readonly framer = new MessageFramer(0xffffffff);
  private readonly queue: Buffer[] = [];
  private waiting: ((b: Buffer | null) => void) | null = null;
  private ended = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.framer.push(chunk);
      for (let f = this.framer.next(); f !== null; f = this.framer.next()) {
        if (f instanceof DecodeError) throw new Error(f.message);
        this.deliver(f);
      }
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.ended = true;
        this.waiting?.(null);
        this.waiting = null;
        resolve();
      });
    });
    socket.on('error', () => {});
  }

  static connect(socketPath: string): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const s = net.connect(socketPath);
      s.once('connect', () => resolve(new Wire(s)));
      s.once('error', reject);
    });
  }

  private deliver(frame: Buffer): void {
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      w(frame);
    } else {
      this.queue.push(frame);
    }
  }

  send(m: TMessage | Buffer): void {
    this.socket.write(Buffer.isBuffer(m) ? m : encode(m));
  }

  /** The next reply's bytes, or null once the server has closed the connection. */
  nextRaw(timeoutMs = 5000): Promise<Buffer | null> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        reject(new Error(`no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting = (b) => {
        clearTimeout(timer);
        resolve(b);
      };
    });
  }

  async next(timeoutMs?: number): Promise<RMessage> {
    const raw = await this.nextRaw(timeoutMs);
    if (raw === null) throw new Error('connection closed by the server');
    const m = decode(raw);
    if (m instanceof DecodeError) throw new Error(`bad reply: ${m.message}`);
    return m as RMessage;
  }

  /** Resolves true if nothing arrives within `ms`. */
  async quiet(ms: number): Promise<boolean> {
    try {
      await this.nextRaw(ms);
      return false;
    } catch {
      return true;
    }
  }

  /** Sends and waits for the reply (use only when nothing else is in flight). */
  async rpc(m: TMessage): Promise<RMessage> {
    this.send(m);
    return this.next();
  }

  close(): void {
    this.socket.destroy();
  }
}

export function isMessage<T extends Message['type']>(m: Message, type: T): m is Extract<Message, { type: T }> {
  return m.type === type;
}

/** The repository root (this file runs from dist/test/). */
export const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');

/** Recorded traffic of real programs: test/fixtures (a copy of shared/fixtures), or $ANVILLM_FIXTURES. */
export function fixturesDir(): string {
  return process.env['ANVILLM_FIXTURES'] ?? path.join(repoRoot, 'test', 'fixtures');
}

/**
 * Resolves once `check` is true (polled every 10 ms, after `refresh` when given); rejects naming
 * `what` after `ms` (a function: worded when it times out, with what is true then).
 */
export async function until(check: () => boolean, what: string | (() => string), ms = 15_000, refresh?: () => Promise<unknown>): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (refresh) await refresh();
    if (check()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A skip reason when a system program a test needs is missing (false when all are there), so a
 * machine without them skips, saying how to install them, instead of failing.
 */
export function needs(...programs: ('tmux' | 'bwrap')[]): string | false {
  const onPath = (p: string) => (process.env['PATH'] ?? '').split(':').some((d) => d !== '' && fs.existsSync(path.join(d, p)));
  const missing = programs.filter((p) => !onPath(p));
  if (missing.length === 0) return false;
  const pkgs = missing.map((p) => (p === 'bwrap' ? 'bubblewrap' : p)).join(' ');
  return `needs ${missing.join(' and ')}: sudo apt-get install ${pkgs} (.ci/run installs them)`;
}

/** The process exists (a zombie counts: it has not been reaped). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
