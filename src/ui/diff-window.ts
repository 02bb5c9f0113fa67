/**
 * /AnviLLM/<id>/diff: a worktree session's changes since its branch point (agent/<id>/diff, `git
 * diff` text), opened by Diff in its chat window. Get reads it again.
 */
import type { Win } from '../acme/acme.js';
import type { Event } from '../acme/event.js';
import { commandWords, isExecute, type Host } from './host.js';

export class DiffWindow {
  private constructor(
    private readonly host: Host,
    readonly win: Win,
    readonly id: string,
  ) {}

  static async open(host: Host, id: string, gone: () => void): Promise<DiffWindow> {
    const win = await host.acme.newWindow();
    const w = new DiffWindow(host, win, id);
    await win.name(`/AnviLLM/${id}/diff`);
    await win.writeTag('Get ');
    await w.get();
    host.run(win, (e) => w.handle(e), gone);
    return w;
  }

  /** The diff read again; the window shown, at its top. */
  async get(): Promise<void> {
    const text = await this.host.agent.read(this.id, 'diff');
    await this.win.replace(',', text === '' ? 'no changes since the branch point\n' : text);
    await this.win.ctl('clean');
    await this.win.ctl('show');
  }

  private async handle(e: Event): Promise<void> {
    if (!isExecute(e) || commandWords(e).cmd !== 'Get') return this.win.writeEvent(e);
    await this.get().catch((err: unknown) => this.host.error(`Get: ${err instanceof Error ? err.message : String(err)}`));
  }
}
