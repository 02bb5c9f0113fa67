/**
 * /AnviLLM/<id>/diff: a worktree session's changes since its branch point (agent/<id>/diff, `git
 * diff` text), opened by Diff in its chat window. Get reads it again.
 */
import type { Win } from '../acme/acme.js';
import type { Host } from './host.js';
import { openWindow, type AcmeWindow, type Command } from './window.js';

export class DiffWindow implements AcmeWindow {
  private constructor(
    private readonly host: Host,
    readonly win: Win,
    readonly id: string,
  ) {}

  static open(host: Host, id: string, gone: () => void): Promise<DiffWindow> {
    return openWindow(host, (win) => new DiffWindow(host, win, id), gone);
  }

  name(): string {
    return `/AnviLLM/${this.id}/diff`;
  }

  commands(): Record<string, Command> {
    return { Get: () => this.get() };
  }

  fill(): Promise<void> {
    return this.get();
  }

  /** The diff read again; the window shown, at its top. */
  async get(): Promise<void> {
    const text = await this.host.agent.diff(this.id);
    if (text === null) throw new Error(`session ${this.id} is not a worktree session: it has no diff`);
    await this.win.replace(',', text === '' ? 'no changes since the branch point\n' : text);
    await this.win.ctl('clean');
    await this.win.ctl('show');
  }
}
