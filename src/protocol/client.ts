/**
 * A client of agent/ (DESIGN §2) over our 9P client: what the anvillm command, anvillm-notify and
 * Assist do with the daemon's files, each sequence written once. `<who>` is a session's id or
 * alias (the daemon walks by either).
 */
import { Client, NinepError, type ClientFile } from '../ninep/client.js';
import { OREAD, ORDWR, OWRITE } from '../ninep/constants.js';
import { isRootName, newWords, parseBackends, parseEvent, parseList, type AgentEvent, type BackendLine, type ListLine, type NewOptions, type WorktreeFile } from './protocol.js';
import { quoteWords } from './words.js';

/**
 * A command the daemon refused. `message` is the whole explanation (what the anvillm command
 * prints and Assist shows); `rerror` is the short form every 9P client got.
 */
export class RefusedError extends Error {
  override name = 'RefusedError';
  constructor(
    readonly rerror: string,
    explanation: string,
  ) {
    super(explanation);
  }
}

/** The open `events` file, read as whole lines. */
export class EventStream {
  constructor(readonly file: ClientFile) {}

  /** Every event from the open on, until the daemon ends the stream or `signal` aborts (its reason is thrown). */
  async *read(signal?: AbortSignal): AsyncGenerator<AgentEvent> {
    let pending = '';
    for await (const chunk of this.file.chunks(signal ? { signal } : {})) {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const e = parseEvent(line);
        if (e) yield e;
      }
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<AgentEvent> {
    return this.read();
  }

  close(): Promise<void> {
    return this.file.close().catch(() => {});
  }
}

export class AgentClient {
  private constructor(private readonly ninep: Client) {}

  /** Dials `address` (default: `agent` in the name space). */
  static async dial(env: NodeJS.ProcessEnv, address = 'agent'): Promise<AgentClient> {
    return new AgentClient(await Client.dial(address, { env }));
  }

  close(): void {
    this.ninep.close();
  }

  /** The event stream: open it before reading `list`, so no change falls between the two. */
  async events(): Promise<EventStream> {
    return new EventStream(await this.ninep.open('events', OREAD));
  }

  async list(): Promise<ListLine[]> {
    return parseList((await this.ninep.readFile('list')).toString());
  }

  async backends(): Promise<BackendLine[]> {
    return parseBackends((await this.ninep.readFile('backends')).toString());
  }

  /** Starts a session (in a new git worktree of `cwd`'s repository with `options.worktree`); resolves with its id. */
  create(backend: string, cwd: string, options: NewOptions = {}): Promise<string> {
    return this.command('ctl', ['new', backend, cwd, ...newWords(options)]);
  }

  /** A command to the session's ctl; resolves with what it answered (e.g. save's path). */
  ctl(who: string, words: string[]): Promise<string> {
    return this.command(`${who}/ctl`, words);
  }

  /**
   * One command on its own open of a ctl file: write, then read the answer. A refused command's
   * whole explanation is read on the same open (the Rerror holds at most 127 bytes of it).
   */
  private async command(file: string, words: string[]): Promise<string> {
    const ctl = await this.ninep.open(file, ORDWR);
    try {
      try {
        await ctl.write(`${quoteWords(words)}\n`);
      } catch (e) {
        if (!(e instanceof NinepError)) throw e;
        const more = (await ctl.read().catch(() => Buffer.alloc(0))).toString().trim();
        throw new RefusedError(e.message, more || e.message);
      }
      return (await ctl.read()).toString().trim();
    } finally {
      await ctl.close().catch(() => {});
    }
  }

  /** A prompt: one open of `in`, written, then clunked (which submits it). */
  async prompt(who: string, text: string): Promise<void> {
    const f = await this.ninep.open(`${who}/in`, OWRITE);
    try {
      await f.write(text);
    } finally {
      await f.close().catch(() => {});
    }
  }

  /** A session's file from `offset` to its end. */
  async read(who: string, file: string, offset = 0): Promise<string> {
    const f = await this.ninep.open(`${who}/${file}`, OREAD);
    try {
      f.offset = offset;
      return (await f.readAll()).toString();
    } finally {
      await f.close().catch(() => {});
    }
  }

  async write(who: string, file: string, text: string): Promise<void> {
    await this.ninep.writeFile(`${who}/${file}`, text);
  }

  /** A worktree session's branch, or null for a session outside a worktree. */
  async branch(who: string): Promise<string | null> {
    return (await this.worktreeFile(who, 'branch'))?.trim() ?? null;
  }

  /** A worktree session's changes since its branch point (`git diff` text), or null for a session outside a worktree. */
  diff(who: string): Promise<string | null> {
    return this.worktreeFile(who, 'diff');
  }

  /** A file only a worktree session has: null when the session has none. */
  private async worktreeFile(who: string, file: WorktreeFile): Promise<string | null> {
    try {
      return await this.read(who, file);
    } catch (e) {
      if (isMissing(e) && (await this.idOf(who)) !== null) return null;
      throw e;
    }
  }

  /** The id of the session `who` names, or null when none does. */
  async idOf(who: string): Promise<string | null> {
    if (who === '' || who.includes('/') || isRootName(who)) return null;
    try {
      return (await this.ninep.stat(who)).name;
    } catch (e) {
      if (isMissing(e)) return null;
      throw e;
    }
  }
}

/** The Rerror of a name that is not there. */
export function isMissing(e: unknown): boolean {
  return e instanceof NinepError && /does not exist/.test(e.message);
}
