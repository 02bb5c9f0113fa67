/**
 * /AnviLLM/: the session table, kept current from agent/events (no polling), and the commands
 * of its tag: one per backend (`Claude <dir>`, `Claude -w <dir>` in a new worktree), then Open
 * Kill Attach Alias Context Sandbox Get.
 * An update writes only what changed, then marks the window clean.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { Win } from '../acme/acme.js';
import type { Event } from '../acme/event.js';
import type { Backend, Row } from './agent.js';
import { commandWords, isExecute, isLook, type Host } from './host.js';
import { diff, renderTable } from './table.js';

export const MAIN_NAME = '/AnviLLM/';
const COMMANDS = 'Open Kill Attach Alias Context Sandbox Get';

export class MainWindow {
  private shown = '';
  /** The user edited the body: what it shows is read again before the next update. */
  private stale = false;
  private refreshing: Promise<void> | null = null;
  private again = false;

  private constructor(
    private readonly host: Host,
    readonly win: Win,
    private backends: Backend[],
  ) {}

  static async open(host: Host, rows: Row[], backends: Backend[], gone: () => void): Promise<MainWindow> {
    const win = await host.acme.newWindow();
    const w = new MainWindow(host, win, backends);
    await win.name(MAIN_NAME);
    await win.writeTag(`${backends.map((b) => b.label).join(' ')} ${COMMANDS} `);
    w.shown = renderTable(rows);
    await win.replace(',', w.shown);
    await win.ctl('clean');
    host.run(win, (e) => w.handle(e), gone);
    return w;
  }

  /** Brings the table up to date with `rows`; calls made meanwhile coalesce into one more. */
  update(rows: () => Promise<Row[]>): Promise<void> {
    if (this.refreshing) {
      this.again = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      try {
        do {
          this.again = false;
          const next = renderTable(await rows());
          if (this.stale) {
            this.stale = false;
            this.shown = await this.win.read(',');
          }
          const edits = diff(this.shown, next);
          for (const e of edits) await this.win.replace(`#${e.q0},#${e.q1}`, e.text);
          this.shown = next;
          if (edits.length > 0) await this.win.ctl('clean');
        } while (this.again);
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  private async handle(e: Event): Promise<void> {
    // Typing in the body (not ours, origin F): the offsets we know are off until read again.
    if ((e.type === 'I' || e.type === 'D') && e.origin !== 'F') {
      this.stale = true;
      return;
    }
    if (isLook(e)) {
      const word = e.text.trim();
      const row = this.host.rows().find((r) => r.id === word || (r.alias !== '' && r.alias === word));
      if (row) return void this.spawn(this.host.openChat(row.id));
      return this.win.writeEvent(e);
    }
    if (!isExecute(e)) return;
    const { cmd, rest } = commandWords(e);
    const backend = this.backends.find((b) => b.label === cmd);
    if (backend) return void this.spawn(this.create(backend, cmd, rest, e.loc));
    const row = this.host.rows().find((r) => r.id === cmd || (r.alias !== '' && r.alias === cmd));
    if (row && e.arg.trim() !== '') {
      // A 2-1 chord of text onto a session: a prompt, sent without leaving this window.
      return void this.spawn(this.host.agent.prompt(row.id, e.arg.trim()));
    }
    const words = rest.split(/\s+/).filter((w) => w !== '');
    const usage = (u: string) => this.host.error(`${cmd}: give ${u}: type it after ${cmd} in the tag and sweep both with B2, or 2-1 chord ${cmd} onto it`);
    switch (cmd) {
      case 'Open':
      case 'Kill':
      case 'Attach':
      case 'Context':
        if (words.length !== 1) return usage('a session (an id, an alias or a pid)');
        return void this.spawn(this.onSession(cmd, words[0]!));
      case 'Alias':
        if (words.length !== 2) return usage('a session and a name: Alias <id> <name>');
        return void this.spawn(this.host.resolve(words[0]!, cmd).then((r) => this.host.agent.ctl(r.id, ['alias', words[1]!])));
      case 'Sandbox':
        return void this.spawn(this.host.openSandbox());
      case 'Get':
        return void this.spawn(this.refreshAll());
      default:
        return this.win.writeEvent(e);
    }
  }

  private async onSession(cmd: string, target: string): Promise<void> {
    const row = await this.host.resolve(target, cmd);
    if (cmd === 'Open') return this.host.openChat(row.id);
    if (cmd === 'Kill') {
      // A worktree session says what it kept (its branch; its worktree, while dirty) and where.
      const kept = await this.host.agent.ctl(row.id, ['kill']);
      return kept === '' ? undefined : this.host.error(`Kill: ${row.id}: ${kept}`);
    }
    if (cmd === 'Attach') return this.host.attach(row.id);
    return this.host.openContext(row.id);
  }

  /** Get: the backends and the table read again. */
  private async refreshAll(): Promise<void> {
    this.backends = await this.host.agent.backends();
    await this.update(() => this.host.agent.list());
  }

  /**
   * `Claude <dir>`; `Claude -w <dir>` in a new worktree of its repository on the default branch,
   * `Claude -b <branch> <dir>` on that branch (git worktree add's own -b).
   */
  private async create(backend: Backend, label: string, args: string, loc: string): Promise<void> {
    const flag = /^-(w|b\s+(\S+))(?:\s+|$)/.exec(args);
    const worktree = flag ? (flag[2] ?? '') : undefined;
    const rest = flag ? args.slice(flag[0].length) : args;
    if (rest === '') {
      throw new Error(`${label}: give a directory: ${label} <dir> (type it after ${label} and sweep both with B2, or 2-1 chord ${label} onto a path); ${label} -w <dir>: in a new git worktree`);
    }
    let dir = rest.replace(/^~(?=\/|$)/, this.host.env['HOME'] ?? os.homedir());
    // A chorded path from a file's window is relative to that file's directory, as in acme.
    const from = loc.includes(':#') ? path.dirname(loc.slice(0, loc.lastIndexOf(':#'))) : this.host.cwd;
    dir = path.resolve(from, dir);
    if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`${label}: ${dir} is not a directory`);
    await this.host.agent.create(backend.name, dir, worktree);
  }

  /** Runs a command without holding up the window's events; its error goes to +Errors. */
  private spawn(p: Promise<unknown>): void {
    p.catch((e: unknown) => this.host.error(e instanceof Error ? e.message : String(e)));
  }
}
