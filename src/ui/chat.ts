/**
 * A session's chat window, `<cwd>/+Chat.<alias or id>`. The body is, top to bottom: the
 * conversation (agent/<id>/transcript, appended as turns complete), the prompts sent and not yet
 * answered (each marked while it waits in the queue), and whatever the user is typing. Send sends
 * that last part. Assist never rewrites what the user types: it tracks where the parts end from
 * the events of the user's own edits, and writes only above them.
 */
import path from 'node:path';

import { runeLength, type Win } from '../acme/acme.js';
import type { Event } from '../acme/event.js';
import { DiffWindow } from './diff-window.js';
import { commandWords, isExecute, type Host } from './host.js';
import { background, openWindow, report, type AcmeWindow, type Command } from './window.js';

const QUEUED = '(queued: sent when the agent is idle)';

interface Pending {
  text: string;
  queued: boolean;
}

export function chatName(cwd: string, id: string, alias: string): string {
  // acme refuses a file name holding a space or a control character: such a cwd cannot name it.
  if ([...cwd].some((c) => c <= ' ')) return `/AnviLLM/+Chat.${alias || id}`;
  return path.join(cwd, `+Chat.${alias || id}`);
}

export class ChatWindow implements AcmeWindow {
  /** Runes of conversation shown; then the pending prompts up to `pendEnd`; then the user's typing. */
  private end = 0;
  private pendEnd = 0;
  private transcriptBytes = 0;
  private pending: Pending[] = [];
  private busy: Promise<void> = Promise.resolve();

  private constructor(
    private readonly host: Host,
    readonly win: Win,
    readonly id: string,
    private cwd: string,
    private alias: string,
    /** A worktree session's chat has Diff. */
    private readonly worktree: boolean,
  ) {}

  static async open(host: Host, id: string, gone: () => void): Promise<ChatWindow> {
    const row = host.rows().find((r) => r.id === id);
    const cwd = row?.cwd ?? (await host.agent.read(id, 'cwd')).trim();
    const worktree = (await host.agent.branch(id)) !== null;
    return openWindow(host, (win) => new ChatWindow(host, win, id, cwd, row?.alias ?? '', worktree), gone);
  }

  name(): string {
    return chatName(this.cwd, this.id, this.alias);
  }

  fill(): Promise<void> {
    return this.reload();
  }

  commands(): Record<string, Command> {
    const ctl = (words: string[]) => this.host.agent.ctl(this.id, words);
    return {
      Send: (_rest, e) => this.send(e.arg.trim()),
      Stop: background(() => ctl(['stop'])),
      Save: background(async (rest) => this.host.error(`Save: ${this.id} saved to ${await ctl(rest ? ['save', rest] : ['save'])}`)),
      Load: background(async (rest) => {
        if (rest === '') throw new Error('give a file: Load <path>');
        await ctl(['load', rest]);
      }),
      Alias: background(async (rest) => {
        if (rest === '' || /\s/.test(rest)) throw new Error('give one name: Alias <name>');
        await ctl(['alias', rest]);
      }),
      Attach: background(() => this.host.attach(this.id)),
      ...(this.worktree ? { Diff: background(() => this.showDiff()) } : {}),
      Get: () => this.reload(),
    };
  }

  /** Shows the window (acme's `show`: scrolls it into view and makes it current). */
  async show(): Promise<void> {
    await this.win.ctl('show');
  }

  async rename(alias: string): Promise<void> {
    this.alias = alias;
    await this.win.name(this.name());
  }

  private diffWin: Promise<DiffWindow> | null = null;

  /** Diff: the session's changes in /AnviLLM/<id>/diff, read again when it is already open. */
  private async showDiff(): Promise<void> {
    if (this.diffWin) return (await this.diffWin).get();
    this.diffWin = DiffWindow.open(this.host, this.id, () => (this.diffWin = null));
    await this.diffWin.catch((e: unknown) => {
      this.diffWin = null;
      throw e;
    });
  }

  /** Del was refused once because of an unsent draft: the next one goes through. */
  private delWarned = false;

  /** Runs body edits one at a time: each reads and moves end and pendEnd. */
  private serial(f: () => Promise<void>): Promise<void> {
    const next = this.busy.then(f, f);
    this.busy = next.catch(() => {});
    return next;
  }

  /** Get: the whole conversation read again; the pending prompts and the typing are kept. */
  reload(): Promise<void> {
    return this.serial(async () => {
      const transcript = await this.host.agent.read(this.id, 'transcript');
      this.transcriptBytes = Buffer.byteLength(transcript);
      const head = transcript + this.renderPending();
      await this.win.replace(`#0,#${this.pendEnd}`, head);
      this.end = runeLength(transcript);
      this.pendEnd = runeLength(head);
      await this.win.ctl('clean');
    });
  }

  /** The conversation grew (a turn completed): appends the new part above the pending prompts. */
  update(): Promise<void> {
    return this.serial(async () => {
      const added = await this.host.agent.read(this.id, 'transcript', this.transcriptBytes);
      if (added === '') return;
      this.transcriptBytes += Buffer.byteLength(added);
      // Only turns of our own pending prompts retire them: a prompt from elsewhere (a chord,
      // another client) leaves ours waiting. The agent saw each with its context prepended.
      for (const m of added.matchAll(/^USER: ([\s\S]*?)\n\nASSISTANT: /gm)) {
        const sent = m[1]!;
        const mine = this.pending[0];
        // Compared with runs of white space as one: agents re-space prompts (Claude Code: tab → 4 spaces).
        if (mine && squeeze(sent).endsWith(squeeze(mine.text))) this.pending.shift();
      }
      if (this.pending[0]) this.pending[0].queued = false;
      const text = added + this.renderPending();
      await this.win.replace(`#${this.end},#${this.pendEnd}`, text);
      this.end += runeLength(added);
      this.pendEnd = this.end + runeLength(text) - runeLength(added);
      await this.win.ctl('clean');
    });
  }

  private renderPending(): string {
    return this.pending.map((p) => `USER: ${p.text}\n${p.queued ? `${QUEUED}\n` : ''}\n`).join('');
  }

  /** Typing moves the parts; Del with an unsent prompt is refused once. */
  async intercept(e: Event): Promise<boolean> {
    if ('IiDd'.includes(e.type)) {
      this.track(e);
      return true;
    }
    if (!isExecute(e) || commandWords(e).cmd !== 'Del') return false;
    // acme deletes a window whose events a program reads without asking: the draft would go.
    const draft = (await this.win.read(`#${this.pendEnd},$`).catch(() => '')).trim();
    if (draft === '' || this.delWarned) return false;
    this.delWarned = true;
    report(this.host, 'Del', `${this.id}: the prompt typed at the end is not sent; Del again to discard it`);
    return true;
  }

  /**
   * Keeps `end` and `pendEnd` on the text they follow while the user edits (events are in the
   * order acme made the changes). Assist's own writes (origin F) already moved them.
   */
  private track(e: Event): void {
    if (e.origin === 'F' || e.type === 'i' || e.type === 'd') return;
    const n = e.q1 - e.q0;
    if (e.type === 'I') {
      if (e.q0 < this.end) this.end += n;
      if (e.q0 < this.pendEnd) this.pendEnd += n;
    } else {
      const cut = (p: number) => p - Math.max(0, Math.min(e.q1, p) - e.q0);
      this.end = cut(this.end);
      this.pendEnd = cut(this.pendEnd);
    }
  }

  /** Sends the text typed after the conversation (or a chorded argument) as one prompt. */
  private send(arg: string): Promise<void> {
    return this.serial(async () => {
      const typed = arg === '' ? await this.win.read(`#${this.pendEnd},$`) : '';
      const text = (arg || typed).replace(/\s+$/, '');
      if (text.trim() === '') throw new Error('type a prompt at the end of the window, then click Send');
      const state = this.host.rows().find((r) => r.id === this.id)?.state ?? 'idle';
      // Fails here (exited session, a slash command that needs the terminal), before the text goes.
      await this.host.agent.prompt(this.id, text);
      this.pending.push({ text, queued: state !== 'idle' || this.pending.length > 0 });
      const shown = this.renderPending();
      // The typed prompt becomes a pending one: the window says it is sent, and whether it waits.
      // Only what was sent is replaced: anything typed after it meanwhile stays.
      const sentEnd = this.pendEnd + (arg === '' ? runeLength(typed) : 0);
      await this.win.replace(`#${this.end},#${sentEnd}`, shown);
      this.pendEnd = this.end + runeLength(shown);
      await this.win.ctl('clean');
    });
  }
}

function squeeze(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
