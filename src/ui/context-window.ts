/**
 * /AnviLLM/<id>/context: the text prepended to every prompt of a session (agent/<id>/context),
 * edited in acme and saved with Put. Get reads it again.
 */
import type { Win } from '../acme/acme.js';
import type { Event } from '../acme/event.js';
import { commandWords, isExecute, type Host } from './host.js';

export function contextName(id: string): string {
  return `/AnviLLM/${id}/context`;
}

export class ContextWindow {
  private constructor(
    private readonly host: Host,
    readonly win: Win,
    readonly id: string,
  ) {}

  static async open(host: Host, id: string, gone: () => void): Promise<ContextWindow> {
    const win = await host.acme.newWindow();
    const w = new ContextWindow(host, win, id);
    await win.name(contextName(id));
    // While Assist reads the events acme shows no Put of its own: the tag carries ours.
    await win.writeTag('Put Get ');
    await w.get();
    host.run(win, (e) => w.handle(e), gone);
    return w;
  }

  async show(): Promise<void> {
    await this.win.ctl('show');
  }

  private async get(): Promise<void> {
    await this.win.replace(',', await this.host.agent.read(this.id, 'context'));
    await this.win.ctl('clean');
  }

  private async handle(e: Event): Promise<void> {
    if (!isExecute(e)) return this.win.writeEvent(e);
    const { cmd } = commandWords(e);
    try {
      if (cmd === 'Put') {
        await this.host.agent.write(this.id, 'context', await this.win.body());
        return await this.win.ctl('clean');
      }
      if (cmd === 'Get') return await this.get();
      return await this.win.writeEvent(e);
    } catch (err) {
      this.host.error(`${cmd}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
