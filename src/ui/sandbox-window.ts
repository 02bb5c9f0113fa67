/**
 * /AnviLLM/Sandbox: the sandbox policy as `anvillm sandbox show` reads it, and its commands:
 * Get (read it again), Edit (the policy file in acme), Reload (check the edited file: sessions
 * started from now on use it), Status (what a session started in Assist's directory would get,
 * from `anvillm sandbox check`).
 */
import { execFile } from 'node:child_process';

import type { Win } from '../acme/acme.js';
import type { Host } from './host.js';
import { openWindow, type AcmeWindow, type Command } from './window.js';

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

export class SandboxWindow implements AcmeWindow {
  private constructor(
    private readonly host: Host,
    readonly win: Win,
  ) {}

  static open(host: Host, gone: () => void): Promise<SandboxWindow> {
    return openWindow(host, (win) => new SandboxWindow(host, win), gone);
  }

  name(): string {
    return SANDBOX_NAME;
  }

  commands(): Record<string, Command> {
    return {
      Get: () => this.fill(),
      Edit: () => this.edit(),
      Reload: async () => {
        const { code } = await anvillm(this.host, ['sandbox', 'show']);
        await this.fill(code === 0 ? 'Reloaded: sessions started from now on use this policy.\n\n' : 'The policy has errors: sessions will be refused until they are fixed.\n\n');
      },
      Status: async () => {
        const { out } = await anvillm(this.host, ['sandbox', 'check', '--cwd', this.host.cwd]);
        await this.win.replace('$', `\nStatus (sandbox check --cwd ${this.host.cwd}):\n${out}`);
        await this.win.ctl('clean');
      },
    };
  }

  async show(): Promise<void> {
    await this.win.ctl('show');
  }

  async fill(note = ''): Promise<void> {
    const { out } = await anvillm(this.host, ['sandbox', 'show']);
    await this.win.replace(',', `${note}${out}${HELP.replace('{dir}', this.host.cwd)}`);
    await this.win.ctl('clean');
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
