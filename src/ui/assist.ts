/**
 * Assist, the Acme UI: a client of acme's files on one side and of agent/ on the other. It opens
 * /AnviLLM/ (or shows the one a previous Assist opened), keeps it current from agent/events, and
 * opens chat, context and sandbox windows on demand. It exits when acme does, or when its last
 * window is closed; the daemon and the agents keep running.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Acme, type Win } from '../acme/acme.js';
import type { Event } from '../acme/event.js';
import type { AgentClient, EventStream } from '../protocol/client.js';
import { tokenize } from '../protocol/words.js';
import { connectAgent, rows, type Row } from './agent.js';
import { ChatWindow } from './chat.js';
import { ContextWindow } from './context-window.js';
import type { Host } from './host.js';
import { MAIN_NAME, MainWindow } from './main-window.js';
import { SandboxWindow } from './sandbox-window.js';
import { openTerminal } from './terminal.js';

export interface AssistOptions {
  env: NodeJS.ProcessEnv;
  cwd: string;
  stderr(line: string): void;
  /** Dial strings; default `acme` and `agent` in the name space. */
  acmeAddress?: string;
  agentAddress?: string;
  /** Start a daemon when none answers (default true). */
  startDaemon?: boolean;
}

const ANVILLM_CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'anvillm.js');

class Assist implements Host {
  rowsNow: Row[] = [];
  main: MainWindow | null = null;
  readonly chats = new Map<string, ChatWindow>();
  readonly contexts = new Map<string, ContextWindow>();
  sandbox: SandboxWindow | null = null;
  private opening = new Map<string, Promise<unknown>>();
  private live = 0;
  private finish!: () => void;
  readonly done = new Promise<void>((resolve) => (this.finish = resolve));
  readonly anvillm = [process.execPath, ANVILLM_CLI];

  constructor(
    readonly acme: Acme,
    readonly agent: AgentClient,
    private readonly options: AssistOptions,
  ) {}

  get env(): NodeJS.ProcessEnv {
    return this.options.env;
  }

  get cwd(): string {
    return this.options.cwd;
  }

  /** Ends Assist (acme has exited). */
  stop(): void {
    this.finish();
  }

  error(message: string): void {
    this.options.stderr(message);
  }

  rows(): Row[] {
    return this.rowsNow;
  }

  async refreshRows(): Promise<Row[]> {
    this.rowsNow = await rows(this.agent);
    return this.rowsNow;
  }

  async resolve(target: string, cmd: string): Promise<Row> {
    const find = () => this.rowsNow.find((r) => r.id === target || (r.alias !== '' && r.alias === target) || r.pid === target);
    const row = find() ?? (await this.refreshRows(), find());
    if (!row) throw new Error(`${cmd}: no session ${target}: give an id, an alias or a pid from /AnviLLM/`);
    return row;
  }

  run(win: Win, handle: (e: Event) => Promise<void>, gone: () => void): void {
    this.live++;
    void (async () => {
      for await (const e of win.events()) {
        try {
          await handle(e);
        } catch (err) {
          this.error(err instanceof Error ? err.message : String(err));
        }
      }
      gone();
      await win.close();
      if (--this.live === 0) this.finish();
    })();
  }

  /** Opens one window per key at a time: a second click while the first opens shows it. */
  private once<T>(key: string, open: () => Promise<T>): Promise<T> {
    const p = this.opening.get(key) as Promise<T> | undefined;
    if (p) return p;
    const q = open().finally(() => this.opening.delete(key));
    this.opening.set(key, q);
    return q;
  }

  async openChat(id: string): Promise<void> {
    const open = this.chats.get(id);
    if (open) return open.show();
    await this.once(`chat ${id}`, async () => {
      const chat = await ChatWindow.open(this, id, () => this.chats.delete(id));
      this.chats.set(id, chat);
    });
  }

  async openContext(id: string): Promise<void> {
    const open = this.contexts.get(id);
    if (open) return open.show();
    await this.once(`context ${id}`, async () => {
      this.contexts.set(id, await ContextWindow.open(this, id, () => this.contexts.delete(id)));
    });
  }

  async openSandbox(): Promise<void> {
    if (this.sandbox) return this.sandbox.show();
    await this.once('sandbox', async () => {
      this.sandbox = await SandboxWindow.open(this, () => (this.sandbox = null));
    });
  }

  async attach(id: string): Promise<void> {
    const argv = tokenize(await this.agent.read(id, 'attach'));
    if (argv.length === 0) throw new Error(`Attach: session ${id} has no terminal to attach to`);
    await openTerminal(argv, this.env);
  }

  /** Follows agent/events: the table, and the chat windows of the sessions that changed. */
  async follow(events: EventStream): Promise<void> {
    try {
      for await (const e of events) {
        // Updates coalesce: a burst of events is one or two reads of the table.
        void this.main?.update(() => this.refreshRows()).catch((err: unknown) => this.error(`/AnviLLM/: ${(err as Error).message}`));
        const chat = this.chats.get(e.id);
        if (!chat) continue;
        const fail = (err: unknown) => this.error(`${chat.id}: ${(err as Error).message}`);
        if (e.kind === 'out' || e.kind === 'exit' || (e.kind === 'state' && e.to === 'idle')) chat.update().catch(fail);
        if (e.kind === 'alias') chat.rename(e.alias).catch(fail);
      }
    } catch (e) {
      if (!this.acme.closed) {
        this.error(`Assist: lost the daemon (${(e as Error).message}): run Assist again`);
        // Its table would go stale, and a new Assist would only show it: it goes.
        await this.main?.win.del(true).catch(() => {});
      }
    }
  }
}

/** Runs Assist until acme exits or its last window closes; resolves with the exit status. */
export async function runAssist(options: AssistOptions): Promise<number> {
  let acme: Acme;
  try {
    acme = await Acme.connect({ env: options.env, ...(options.acmeAddress ? { address: options.acmeAddress } : {}) });
  } catch (e) {
    options.stderr(`Assist: ${(e as Error).message}`);
    return 1;
  }
  try {
    // A second Assist shows the first one's window instead of opening another.
    const existing = await acme.findWindow(MAIN_NAME);
    if (existing) {
      const w = await acme.openWindow(existing.id);
      await w.ctl('show');
      await w.close();
      return 0;
    }
    const agent = await connectAgent(options.env, options.agentAddress, options.startDaemon ?? true);
    const assist = new Assist(acme, agent, options);
    acme.onClose(() => assist.stop());
    const events = await agent.events();
    const [rows, backends] = await Promise.all([assist.refreshRows(), agent.backends()]);
    assist.main = await MainWindow.open(assist, rows, backends, () => (assist.main = null));
    void assist.follow(events);
    await assist.done;
    agent.close();
    return 0;
  } catch (e) {
    options.stderr(`Assist: ${(e as Error).message}`);
    return 1;
  } finally {
    acme.close();
  }
}
