/**
 * A client of Acme's file server (acme(4)), as small as 9fans/go's acme package: one 9P
 * connection for every window, windows by id, new ones through `new/ctl`, each window file opened
 * once (ORDWR) and kept open. Acme sits behind plan9port's 9pserve, where every request costs a
 * round trip of milliseconds: keep fids, batch ctl messages, never re-read what is known.
 */
import net from 'node:net';

import { Client, type ClientFile } from '../ninep/client.js';
import { OREAD, ORDWR } from '../ninep/constants.js';
import { resolveAddress } from '../ninep/namespace.js';
import { EventParser, canWriteBack, readJoined, writeBackMessage, type Event, type RawEvent } from './event.js';

export interface AcmeOptions {
  env?: NodeJS.ProcessEnv;
  /** Dial string; default `acme` in the name space. */
  address?: string;
}

/** One line of `index`, or what `ctl` says of a window. */
export interface WinInfo {
  id: number;
  tagLength: number;
  bodyLength: number;
  isDir: boolean;
  dirty: boolean;
  /** The tag up to its first newline (index only). */
  tag: string;
  /** The window's name: the tag's first word. */
  name: string;
}

/** One line of `log`. */
export interface LogEvent {
  id: number;
  /** new, del, get, put, zerox, focus (acme logs focus changes though acme(4) does not say so). */
  op: string;
  name: string;
}

export type WinFile = 'addr' | 'body' | 'ctl' | 'data' | 'event' | 'tag' | 'xdata' | 'errors';

/** Counts runes (code points), as acme's addresses and lengths do. */
export function runeLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

export class Acme {
  private closedWith: Error | null = null;
  private readonly closeListeners = new Set<(e: Error) => void>();

  private constructor(readonly client: Client, socket: net.Socket) {
    socket.on('close', () => this.lost(new Error('acme has exited')));
  }

  /**
   * Connects as $USER: acme refuses an attach in any other name ("permission denied"), and a
   * user name taken from the password database may differ from the one acme was started with.
   */
  static async connect(options: AcmeOptions = {}): Promise<Acme> {
    const env = options.env ?? process.env;
    const address = options.address ?? 'acme';
    const target = resolveAddress(address, env);
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = 'path' in target ? net.connect(target.path) : net.connect(target.port, target.host);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', (e) => reject(new Error(`cannot reach acme at ${'path' in target ? target.path : address}: is acme running? (${e.message})`)));
    });
    socket.setNoDelay(true);
    const uname = env['USER'] ?? '';
    const client = await Client.connect(socket, { uname, msize: 8192 + 24 });
    return new Acme(client, socket);
  }

  private lost(e: Error): void {
    if (this.closedWith) return;
    this.closedWith = e;
    for (const l of this.closeListeners) l(e);
  }

  /** Called once when the connection ends (acme exited, or close()). */
  onClose(listener: (e: Error) => void): void {
    if (this.closedWith) listener(this.closedWith);
    else this.closeListeners.add(listener);
  }

  get closed(): boolean {
    return this.closedWith !== null;
  }

  close(): void {
    this.client.close();
  }

  /** A new window: walking to `new` creates it, and `new/ctl` becomes the window's ctl. */
  async newWindow(): Promise<Win> {
    const ctl = await this.client.open('new/ctl', ORDWR);
    const head = (await ctl.pread(0, 100)).toString();
    const id = Number(head.trim().split(/\s+/)[0]);
    if (!Number.isInteger(id)) throw new Error(`acme: new/ctl said ${JSON.stringify(head)}`);
    return new Win(this, id, ctl);
  }

  /** An existing window by id (fails "file does not exist" when there is none). */
  async openWindow(id: number): Promise<Win> {
    const ctl = await this.client.open(`${id}/ctl`, ORDWR);
    return new Win(this, id, ctl);
  }

  /** Every window, as `index` lists them. */
  async index(): Promise<WinInfo[]> {
    const text = (await this.client.readFile('index')).toString();
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => {
        const nums = l.slice(0, 60).trim().split(/\s+/).map(Number);
        const tag = l.slice(60);
        return {
          id: nums[0]!,
          tagLength: nums[1]!,
          bodyLength: nums[2]!,
          isDir: nums[3] === 1,
          dirty: nums[4] === 1,
          tag,
          name: tag.split(' ')[0]!,
        };
      });
  }

  /** Runes q0..q1 of the body of the window called `name` ('' when there is none). */
  async readAt(name: string, q0: number, q1: number): Promise<string> {
    const info = await this.findWindow(name).catch(() => undefined);
    if (!info) return '';
    const w = await this.openWindow(info.id);
    try {
      return await w.read(`#${q0},#${q1}`);
    } catch {
      return '';
    } finally {
      await w.close();
    }
  }

  /** The first window whose name is `name`, or undefined. */
  async findWindow(name: string): Promise<WinInfo | undefined> {
    return (await this.index()).find((w) => w.name === name);
  }

  /** Window operations from the moment this resolves on (acme shows a reader only later ones). */
  async log(): Promise<Log> {
    return new Log(await this.client.open('log', OREAD));
  }
}

/** An open `log`: one read waits for one operation. */
export class Log {
  private pending: LogEvent[] = [];

  constructor(private readonly file: ClientFile) {}

  /** The next operation; null once acme is gone or the log closed. */
  async next(signal?: AbortSignal): Promise<LogEvent | null> {
    while (this.pending.length === 0) {
      let data: string;
      try {
        data = (await this.file.pread(0, this.file.iounit, signal ? { signal } : {})).toString();
      } catch {
        return null;
      }
      if (data === '') return null;
      for (const line of data.split('\n')) {
        if (line === '') continue;
        const [id, op, ...name] = line.split(' ');
        this.pending.push({ id: Number(id), op: op ?? '', name: name.join(' ') });
      }
    }
    return this.pending.shift()!;
  }

  async close(): Promise<void> {
    await this.file.close().catch(() => {});
  }
}

/** Parses the fields of a ctl read: id, tag length, body length, isdir, dirty, ... */
function parseCtl(text: string): WinInfo {
  const f = text.trim().split(/\s+/);
  return { id: Number(f[0]), tagLength: Number(f[1]), bodyLength: Number(f[2]), isDir: f[3] === '1', dirty: f[4] === '1', tag: '', name: '' };
}

export class Win {
  private readonly files = new Map<WinFile, Promise<ClientFile>>();
  private readonly parser = new EventParser();
  private raw: RawEvent[] = [];
  private eventsDone = false;
  private dead = false;
  /** addr then data is two requests: nothing else may set the address in between. */
  private addrLock: Promise<unknown> = Promise.resolve();

  constructor(
    readonly acme: Acme,
    readonly id: number,
    ctl: ClientFile,
  ) {
    this.files.set('ctl', Promise.resolve(ctl));
  }

  /** The window's file, opened once and kept. */
  file(name: WinFile): Promise<ClientFile> {
    let f = this.files.get(name);
    if (!f) {
      f = this.acme.client.open(`${this.id}/${name}`, ORDWR);
      this.files.set(name, f);
      f.catch(() => this.files.delete(name));
    }
    return f;
  }

  /** Writes control messages, all in one Twrite (acme takes several lines at once). */
  async ctl(...messages: string[]): Promise<void> {
    const f = await this.file('ctl');
    await f.pwrite(messages.map((m) => (m.endsWith('\n') ? m : `${m}\n`)).join(''), 0);
  }

  async info(): Promise<WinInfo> {
    const f = await this.file('ctl');
    return parseCtl((await f.pread(0, f.iounit)).toString());
  }

  async name(name: string): Promise<void> {
    await this.ctl(`name ${name}`);
  }

  /** Sets the address (acme's address syntax: `,`, `$`, `#5,#9`, `/re/`...). */
  async addr(address: string): Promise<void> {
    const f = await this.file('addr');
    await f.pwrite(address, 0);
  }

  /** The address as [q0, q1] in runes. */
  async readAddr(): Promise<[number, number]> {
    const f = await this.file('addr');
    const [q0, q1] = (await f.pread(0, 64)).toString().trim().split(/\s+/).map(Number);
    return [q0!, q1!];
  }

  private withAddr<T>(f: () => Promise<T>): Promise<T> {
    const run = this.addrLock.then(f, f);
    this.addrLock = run.catch(() => {});
    return run;
  }

  /** Replaces the text at `address` with `text`: two requests however long the text. */
  replace(address: string, text: string): Promise<void> {
    return this.withAddr(async () => {
      await this.addr(address);
      const f = await this.file('data');
      // acme turns each write of data into runes on its own: a character split between two
      // writes would become replacement characters. Every chunk ends on a character boundary.
      // An empty text is one empty write: acme deletes the addressed text on any write to data.
      const chunks = text === '' ? [Buffer.alloc(0)] : utf8Chunks(Buffer.from(text), f.iounit);
      for (const chunk of chunks) await f.pwrite(chunk, 0);
    });
  }

  /** The text at `address` (xdata stops at the address's end, where data would read on). */
  read(address: string): Promise<string> {
    return this.withAddr(async () => {
      await this.addr(address);
      const f = await this.file('xdata');
      const parts: Buffer[] = [];
      for (;;) {
        const b = await f.pread(0, f.iounit);
        if (b.length === 0) break;
        parts.push(b);
      }
      return Buffer.concat(parts).toString();
    });
  }

  /** The whole body. */
  async body(): Promise<string> {
    return this.readAll('body');
  }

  async tag(): Promise<string> {
    return this.readAll('tag');
  }

  private async readAll(name: 'body' | 'tag'): Promise<string> {
    const f = await this.file(name);
    const parts: Buffer[] = [];
    for (let off = 0; ; ) {
      const b = await f.pread(off, f.iounit);
      if (b.length === 0) break;
      parts.push(b);
      off += b.length;
    }
    return Buffer.concat(parts).toString();
  }

  /** Appends to the tag (after the part acme keeps: name, Del, Snarf, |, Look). */
  async writeTag(text: string): Promise<void> {
    const f = await this.file('tag');
    await f.pwrite(text, 0);
  }

  /** Appends to the body. */
  async append(text: string): Promise<void> {
    const f = await this.file('body');
    await f.pwrite(text, 0);
  }

  /** The next event, joined; null when the window is gone (deleted, or acme exited). */
  async readEvent(): Promise<Event | null> {
    if (this.eventsDone) return null;
    const e = await readJoined(() => this.nextRaw());
    if (e === null) {
      this.eventsDone = true;
      return null;
    }
    // Text of 256 runes or more is not sent: read it from the body (a tag has no addresses).
    if (e.text === '' && e.q1 > e.q0 && 'XLR'.includes(e.type)) {
      e.text = await this.read(`#${e.q0},#${e.q1}`).catch(() => '');
      e.nr = runeLength(e.text);
    }
    // Nor is a long chorded argument: read it from the window its address names.
    const loc = /^(.*):#(\d+),#(\d+)$/s.exec(e.loc);
    if (e.arg === '' && loc && Number(loc[3]) > Number(loc[2])) e.arg = await this.acme.readAt(loc[1]!, Number(loc[2]), Number(loc[3]));
    return e;
  }

  private async nextRaw(): Promise<RawEvent | null> {
    while (this.raw.length === 0) {
      let data: Buffer;
      try {
        const f = await this.file('event');
        data = await f.pread(0, f.iounit);
      } catch {
        return null; // "window shut down", "deleted window", or acme gone
      }
      if (data.length === 0) return null;
      try {
        this.raw.push(...this.parser.push(data));
      } catch {
        return null; // not acme's event syntax: this window's events cannot be trusted further
      }
    }
    return this.raw.shift()!;
  }

  /** Every event until the window goes away. */
  async *events(): AsyncGenerator<Event> {
    for (;;) {
      const e = await this.readEvent();
      if (e === null) return;
      yield e;
    }
  }

  /** Asks acme to do what it would have done had nobody read the event (only x X l L r R). */
  async writeEvent(e: Event): Promise<void> {
    if (!canWriteBack(e)) return;
    const f = await this.file('event');
    await f.pwrite(writeBackMessage(e), 0);
  }

  /** Deletes the window: `del` refuses a dirty one ("file dirty"); `force` never does. */
  async del(force = false): Promise<void> {
    await this.ctl(force ? 'delete' : 'del');
  }

  /** Clunks every fid of the window. Acme frees a deleted window only once they are all gone. */
  async close(): Promise<void> {
    if (this.dead) return;
    this.dead = true;
    const all = [...this.files.values()];
    this.files.clear();
    await Promise.all(all.map(async (p) => (await p.catch(() => null))?.close().catch(() => {})));
  }
}

/** `bytes` cut into pieces of at most `max` bytes, never inside a UTF-8 character. */
export function utf8Chunks(bytes: Buffer, max: number): Buffer[] {
  const chunks: Buffer[] = [];
  let start = 0;
  while (start < bytes.length) {
    let end = Math.min(start + max, bytes.length);
    // Back off continuation bytes (10xxxxxx): the cut goes before their character's first byte.
    if (end < bytes.length) while (end > start && (bytes[end]! & 0xc0) === 0x80) end--;
    chunks.push(bytes.subarray(start, end));
    start = end;
  }
  return chunks;
}
