/**
 * /AnviLLM/Sandbox: the sandbox policy as `anvillm sandbox show` reads it, and its commands:
 * Get (read it again), Edit (the policy file in acme), Reload (check the edited file: sessions
 * started from now on use it), Status (what a session started in Assist's directory would get,
 * from `anvillm sandbox check`).
 */
import { execFile } from 'node:child_process';

import type { Win } from '../acme/acme.js';
import type { Event } from '../acme/event.js';
import { commandWords, isExecute, type Host } from './host.js';

export const SANDBOX_NAME = '/AnviLLM/Sandbox';

const HELP = `
Commands:
  Get     read the policy again
  Edit    open the policy file
  Reload  check the edited policy: sessions started from now on use it
  Status  what a session started in ${'{dir}'} would get
Changes apply to NEW sessions only: running ones keep the sandbox they started with.
`;

/** Runs the anvillm CLI (an argv, no shell); resolves with its output, errors included. */
function anvillm(host: Host, args: string[]): Promise<{ code: number; out: string }> {
  const [cmd, ...pre] = host.anvillm;
  return new Promise((resolve) => {
    execFile(cmd!, [...pre, ...args], { env: host.env, cwd: host.cwd }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

export class SandboxWindow {
  private constructor(
    private readonly host: Host,
    readonly win: Win,
  ) {}

  static async open(host: Host, gone: () => void): Promise<SandboxWindow> {
    const win = await host.acme.newWindow();
    const w = new SandboxWindow(host, win);
    await win.name(SANDBOX_NAME);
    await win.writeTag('Get Edit Reload Status ');
    await w.get();
    host.run(win, (e) => w.handle(e), gone);
    return w;
  }

  async show(): Promise<void> {
    await this.win.ctl('show');
  }

  private async get(note = ''): Promise<void> {
    const { out } = await anvillm(this.host, ['sandbox', 'show']);
    await this.win.replace(',', `${note}${out}${HELP.replace('{dir}', this.host.cwd)}`);
    await this.win.ctl('clean');
  }

  private async handle(e: Event): Promise<void> {
    if (!isExecute(e)) return this.win.writeEvent(e);
    const { cmd } = commandWords(e);
    try {
      switch (cmd) {
        case 'Get':
          return await this.get();
        case 'Reload': {
          const { code } = await anvillm(this.host, ['sandbox', 'show']);
          return await this.get(code === 0 ? 'Reloaded: sessions started from now on use this policy.\n\n' : 'The policy has errors: sessions will be refused until they are fixed.\n\n');
        }
        case 'Status': {
          const { out } = await anvillm(this.host, ['sandbox', 'check', '--cwd', this.host.cwd]);
          await this.win.replace('$', `\nStatus (sandbox check --cwd ${this.host.cwd}):\n${out}`);
          return await this.win.ctl('clean');
        }
        case 'Edit':
          return await this.edit();
        default:
          return await this.win.writeEvent(e);
      }
    } catch (err) {
      this.host.error(`${cmd}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** The policy file in a window of its own (acme loads it: `name` then `get`), or the open one shown. */
  private async edit(): Promise<void> {
    const { out } = await anvillm(this.host, ['sandbox', 'show']);
    const file = out.split('\n')[0]!.trim();
    if (!file.startsWith('/')) throw new Error(out.trim());
    const open = await this.host.acme.findWindow(file);
    const win = open ? await this.host.acme.openWindow(open.id) : await this.host.acme.newWindow();
    try {
      if (open) await win.ctl('show');
      else await win.ctl(`name ${file}`, 'get', 'show');
    } finally {
      await win.close();
    }
  }
}
