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
import { rows, type Backend, type Row } from './agent.js';
import { commandWords, isExecute, isLook, type Host } from './host.js';
import { diff, renderTable } from './table.js';
import { background, openWindow, report, type AcmeWindow, type Command } from './window.js';

export const MAIN_NAME = '/AnviLLM/';

export class MainWindow implements AcmeWindow {
  private shown = '';
  /** The user edited the body: what it shows is read again before the next update. */
  private stale = false;
  private refreshing: Promise<void> | null = null;
  private again = false;

  private constructor(
    private readonly host: Host,
    readonly win: Win,
    private backends: Backend[],
    private readonly first: Row[],
  ) {}

  static open(host: Host, rows: Row[], backends: Backend[], gone: () => void): Promise<MainWindow> {
    return openWindow(host, (win) => new MainWindow(host, win, backends, rows), gone);
  }

  name(): string {
    return MAIN_NAME;
  }

  async fill(): Promise<void> {
    this.shown = renderTable(this.first);
    await this.win.replace(',', this.shown);
    await this.win.ctl('clean');
  }

  /** One command per backend (`Claude <dir>`, `-w`/`-b <branch>` for a worktree), then the table's. Each runs beside the window's events. */
  commands(): Record<string, Command> {
    const onSession = (cmd: string) => async (rest: string) => this.onSession(cmd, oneWord(rest, cmd));
    return {
      ...Object.fromEntries(this.backends.map((b) => [b.label, background((rest, e) => this.create(b, b.label, rest, e.loc))])),
      Open: background(onSession('Open')),
      Kill: background(onSession('Kill')),
      Attach: background(onSession('Attach')),
      Alias: background(async (rest) => {
        const words = rest.split(/\s+/).filter((w) => w !== '');
        if (words.length !== 2) throw new Error(usage('a session and a name: Alias <id> <name>', 'Alias'));
        const r = await this.host.resolve(words[0]!, 'Alias');
        await this.host.agent.ctl(r.id, ['alias', words[1]!]);
      }),
      Context: background(onSession('Context')),
      Sandbox: background(() => this.host.openSandbox()),
      Get: background(() => this.refreshAll()),
    };
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

  /** Typing, B3 on a session and a chord of text onto one are the window's; the rest is the table's. */
  intercept(e: Event): boolean {
    // Typing in the body (not ours, origin F): the offsets we know are off until read again.
    if ((e.type === 'I' || e.type === 'D') && e.origin !== 'F') {
      this.stale = true;
      return true;
    }
    const row = (word: string) => this.host.rows().find((r) => r.id === word || (r.alias !== '' && r.alias === word));
    if (isLook(e)) {
      const r = row(e.text.trim());
      if (r) this.spawn('Open', this.host.openChat(r.id));
      return r !== undefined;
    }
    if (!isExecute(e)) return true;
    const { cmd } = commandWords(e);
    const r = this.backends.some((b) => b.label === cmd) ? undefined : row(cmd);
    if (!r || e.arg.trim() === '') return false;
    // A 2-1 chord of text onto a session: a prompt, sent without leaving this window.
    this.spawn(cmd, this.host.agent.prompt(r.id, e.arg.trim()));
    return true;
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
    await this.update(() => rows(this.host.agent));
  }

  /**
   * `Claude <dir>`; `Claude -w <dir>` in a new worktree of its repository on the default branch,
   * `Claude -b <branch> <dir>` on that branch (git worktree add's own -b).
   */
  private async create(backend: Backend, label: string, args: string, loc: string): Promise<void> {
    const flag = /^-(w|b\s+(\S+))(?:\s+|$)/.exec(args);
    const worktree = flag ? (flag[2] !== undefined ? { branch: flag[2] } : {}) : undefined;
    const rest = flag ? args.slice(flag[0].length) : args;
    if (rest === '') {
      throw new Error(`${label}: give a directory: ${label} <dir> (type it after ${label} and sweep both with B2, or 2-1 chord ${label} onto a path); ${label} -w <dir>: in a new git worktree`);
    }
    let dir = rest.replace(/^~(?=\/|$)/, this.host.env['HOME'] ?? os.homedir());
    // A chorded path from a file's window is relative to that file's directory, as in acme.
    const from = loc.includes(':#') ? path.dirname(loc.slice(0, loc.lastIndexOf(':#'))) : this.host.cwd;
    dir = path.resolve(from, dir);
    if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`${label}: ${dir} is not a directory`);
    await this.host.agent.create(backend.name, dir, worktree === undefined ? {} : { worktree });
  }

  /** Runs a command without holding up the window's events; its error goes to +Errors. */
  private spawn(cmd: string, p: Promise<unknown>): void {
    p.catch((e: unknown) => report(this.host, cmd, e));
  }
}

function usage(what: string, cmd: string): string {
  return `give ${what}: type it after ${cmd} in the tag and sweep both with B2, or 2-1 chord ${cmd} onto it`;
}

/** The one word `cmd` takes: a session. */
function oneWord(rest: string, cmd: string): string {
  const words = rest.split(/\s+/).filter((w) => w !== '');
  if (words.length !== 1) throw new Error(usage('a session (an id, an alias or a pid)', cmd));
  return words[0]!;
}
