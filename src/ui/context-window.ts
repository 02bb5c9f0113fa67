/**
 * /AnviLLM/<id>/context: the text prepended to every prompt of a session (agent/<id>/context),
 * edited in acme and saved with Put. Get reads it again.
 */
import type { Win } from '../acme/acme.js';
import type { Host } from './host.js';
import { openWindow, type AcmeWindow, type Command } from './window.js';

export function contextName(id: string): string {
  return `/AnviLLM/${id}/context`;
}

export class ContextWindow implements AcmeWindow {
  private constructor(
    private readonly host: Host,
    readonly win: Win,
    readonly id: string,
  ) {}

  static open(host: Host, id: string, gone: () => void): Promise<ContextWindow> {
    return openWindow(host, (win) => new ContextWindow(host, win, id), gone);
  }

  name(): string {
    return contextName(this.id);
  }

  /** While Assist reads the events acme shows no Put of its own: the tag carries ours. */
  commands(): Record<string, Command> {
    return {
      Put: async () => {
        await this.host.agent.write(this.id, 'context', await this.win.body());
        await this.win.ctl('clean');
      },
      Get: () => this.fill(),
    };
  }

  async show(): Promise<void> {
    await this.win.ctl('show');
  }

  async fill(): Promise<void> {
    await this.win.replace(',', await this.host.agent.read(this.id, 'context'));
    await this.win.ctl('clean');
  }
}
