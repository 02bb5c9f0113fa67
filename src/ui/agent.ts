/**
 * Assist's side of agent/ (DESIGN §2): the daemon's files over 9P, nothing else. Assist never
 * touches sessions or tmux itself; what it shows and does goes through these files.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { parseList, quoteWords } from '../agentfs/words.js';
import { Client, type ClientFile } from '../ninep/client.js';
import { OREAD, ORDWR, OWRITE } from '../ninep/constants.js';
import { namespaceDir } from '../ninep/namespace.js';

export interface Row {
  id: string;
  backend: string;
  state: string;
  pid: string;
  alias: string;
  cwd: string;
}

export interface Backend {
  name: string;
  label: string;
  available: boolean;
}

export class Agent {
  private constructor(readonly client: Client) {}

  /**
   * Connects to the daemon; when none answers, starts one (`anvillm daemon start`) and connects.
   * `agentAddress` overrides the name space's `agent` (tests).
   */
  static async connect(env: NodeJS.ProcessEnv, agentAddress = 'agent', startDaemon = true): Promise<Agent> {
    try {
      return new Agent(await Client.dial(agentAddress, { env }));
    } catch (e) {
      if (!startDaemon) throw e;
    }
    const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'anvillm.js');
    const code = await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, [cli, 'daemon', 'start'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
      child.on('exit', (c) => resolve(c ?? 1));
      child.on('error', () => resolve(1));
    });
    if (code !== 0) throw new Error(`no daemon answers at ${path.join(namespaceDir(env), 'agent')} and \`anvillm daemon start\` failed`);
    return new Agent(await Client.dial(agentAddress, { env }));
  }

  close(): void {
    this.client.close();
  }

  /** The event stream: open it before reading `list`, so no change falls between the two. */
  events(): Promise<ClientFile> {
    return this.client.open('events', OREAD);
  }

  async list(): Promise<Row[]> {
    return parseList((await this.client.readFile('list')).toString()).map((l) => ({ ...l, alias: l.alias ?? '' }));
  }

  async backends(): Promise<Backend[]> {
    const text = (await this.client.readFile('backends')).toString();
    return text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => {
        const [name, label, available] = l.split('\t');
        return { name: name!, label: label!, available: available === 'available' };
      });
  }

  /** Starts a session (in a new worktree when `worktree` is given: the branch, or '' for the default); resolves with its id. */
  async create(backend: string, cwd: string, worktree?: string): Promise<string> {
    const ctl = await this.client.open('ctl', ORDWR);
    const option = worktree === undefined ? [] : [worktree === '' ? 'worktree' : `worktree=${worktree}`];
    try {
      await ctl.write(`${quoteWords(['new', backend, cwd, ...option])}\n`);
      return (await ctl.read()).toString().trim();
    } finally {
      await ctl.close().catch(() => {});
    }
  }

  /** A prompt: one open of `in`, written, then clunked (which submits it). */
  async prompt(id: string, text: string): Promise<void> {
    const f = await this.client.open(`${id}/in`, OWRITE);
    try {
      await f.write(text);
    } finally {
      await f.close().catch(() => {});
    }
  }

  /** A command to the session's ctl; resolves with what it answered (e.g. save's path). */
  async ctl(id: string, words: string[]): Promise<string> {
    const f = await this.client.open(`${id}/ctl`, ORDWR);
    try {
      await f.write(`${quoteWords(words)}\n`);
      return (await f.read()).toString().trim();
    } finally {
      await f.close().catch(() => {});
    }
  }

  async read(id: string, file: string, offset = 0): Promise<string> {
    const f = await this.client.open(`${id}/${file}`, OREAD);
    try {
      f.offset = offset;
      return (await f.readAll()).toString();
    } finally {
      await f.close().catch(() => {});
    }
  }

  async write(id: string, file: string, text: string): Promise<void> {
    await this.client.writeFile(`${id}/${file}`, text);
  }
}
