/**
 * One tmux control-mode client (`tmux -C`), attached to one tmux session.
 *
 * Why control mode and not pipe-pane: commands travel over the client's stdin, so a secret in
 * `new-window -e KEY=VALUE` never stands in any process's argv; pane output arrives as %output
 * on the same pipe, with no FIFO in /tmp, no shell and no extra process per pane (pipe-pane runs
 * its target through `sh -c`, one process per pane); and it costs no process spawn per command.
 * Measured here (200 timestamped lines from a pane, 2026-11-23): a pane's write reached us in
 * p50 1.05 ms / p99 6.6 ms by %output, and p50 1.36 ms / p99 8.1 ms by pipe-pane into a unix
 * socket (through a relay process per pane). Control mode is as fast or faster, and simpler.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

import { unescapeOutput } from './quote.js';

export class TmuxError extends Error {
  override name = 'TmuxError';
}

export interface ControlHandlers {
  /** Bytes a pane wrote (its %output), as the terminal received them. */
  output?(paneId: string, data: Buffer): void;
  /** A subscription's value changed: `%subscription-changed name $s @w idx %p : value`. */
  subscription?(name: string, windowId: string, paneId: string, value: string): void;
  /** A window of the server closed. */
  windowClosed?(windowId: string): void;
  /** The client went away (server gone, session ended, or close()). */
  exit?(reason: string): void;
}

interface PendingCommand {
  resolve(lines: string[]): void;
  reject(e: Error): void;
}

/** Commands sent on one line: tmux answers each with its own %begin/%end block. */
interface PendingLine {
  remaining: number;
  outputs: string[][];
  resolve(outputs: string[][]): void;
  reject(e: Error): void;
}

export class ControlClient {
  private readonly pending: PendingLine[] = [];
  /** The block being read: its lines, and the "<time> <number> <flags>" its %end must repeat. */
  private block: { lines: string[]; ours: boolean; id: string } | null = null;
  private partial = '';
  private exited: string | null = null;
  private readonly ready: Promise<void>;
  private onAttached: PendingCommand | null = null;

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly handlers: ControlHandlers,
  ) {
    child.stdout.setEncoding('latin1'); // bytes as they are: %output carries raw terminal bytes
    child.stdout.on('data', (chunk: string) => this.onData(chunk));
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    this.ready = new Promise((resolve, reject) => {
      // The attach itself is answered by a first %begin/%end block, not flagged as ours.
      this.onAttached = { resolve: () => resolve(), reject };
    });
    child.on('error', (e) => this.finish(`tmux: ${e.message}`));
    // Writing to a client that just exited: its exit is handled below.
    child.stdin.on('error', () => {});
    child.on('exit', () => this.finish(stderr.trim() || 'tmux control client exited'));
  }

  /**
   * Attaches a control client to `session`. With `placeholder`, a missing session is created with
   * that argv as its first window; without, a missing session is an error.
   */
  static async attach(tmuxArgs: string[], session: string, placeholder: string[] | null, env: NodeJS.ProcessEnv, handlers: ControlHandlers): Promise<ControlClient> {
    const start = placeholder
      ? ['new-session', '-A', '-s', session, '-n', PLACEHOLDER_NAME, '--', ...placeholder]
      : ['attach-session', '-t', session];
    const child = spawn('tmux', [...tmuxArgs, '-C', ...start], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const client = new ControlClient(child, handlers);
    await client.ready;
    return client;
  }

  get alive(): boolean {
    return this.exited === null;
  }

  /** Runs one command (already quoted) and resolves with its output lines. */
  async command(command: string): Promise<string[]> {
    return (await this.commands([command]))[0]!;
  }

  /**
   * Runs commands on one line, so tmux runs them all before anything else happens (such as
   * noticing a program's exit); resolves with each one's output, or rejects with the first error.
   */
  commands(commands: string[]): Promise<string[][]> {
    if (this.exited !== null) return Promise.reject(new TmuxError(this.exited));
    const line = commands.join(' ; ');
    if (line.includes('\n')) return Promise.reject(new TmuxError('a tmux command line cannot hold a newline: quote it'));
    return new Promise((resolve, reject) => {
      this.pending.push({ remaining: commands.length, outputs: [], resolve, reject });
      this.child.stdin.write(`${line}\n`);
    });
  }

  close(): void {
    if (this.exited === null) this.child.stdin.end();
  }

  private finish(reason: string): void {
    if (this.exited !== null) return;
    this.exited = reason;
    this.onAttached?.reject(new TmuxError(reason));
    for (const p of this.pending.splice(0)) p.reject(new TmuxError(reason));
    this.handlers.exit?.(reason);
  }

  private onData(chunk: string): void {
    const text = this.partial + chunk;
    const lines = text.split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) this.onLine(line);
  }

  private onLine(line: string): void {
    if (this.block) {
      // Only the %end or %error of this very block ends it: a pane's text in a capture may
      // itself hold lines that look like protocol.
      if (line === `%end ${this.block.id}` || line === `%error ${this.block.id}`) {
        const { lines, ours } = this.block;
        this.block = null;
        // Command output is text; the line arrived as latin1 bytes.
        const text = lines.map((l) => Buffer.from(l, 'latin1').toString('utf8'));
        const failed = line.startsWith('%error ') ? new TmuxError(text.join('\n') || 'tmux command failed') : null;
        if (!ours) {
          const attached = this.onAttached;
          this.onAttached = null;
          if (failed) attached?.reject(failed);
          else attached?.resolve(text);
          return;
        }
        const waiter = this.pending[0];
        if (!waiter) return;
        waiter.outputs.push(text);
        // A failing command ends its line: tmux runs none of the commands after it.
        if (failed) {
          this.pending.shift();
          waiter.reject(failed);
          return;
        }
        if (--waiter.remaining > 0) return;
        this.pending.shift();
        waiter.resolve(waiter.outputs);
        return;
      }
      this.block.lines.push(line);
      return;
    }
    if (line.startsWith('%begin ')) {
      const id = line.slice('%begin '.length);
      this.block = { lines: [], ours: (Number(id.split(' ')[2]) & 1) === 1, id };
      return;
    }
    const space = line.indexOf(' ');
    const kind = space < 0 ? line : line.slice(0, space);
    switch (kind) {
      case '%output': {
        const rest = line.slice(space + 1);
        const at = rest.indexOf(' ');
        this.handlers.output?.(rest.slice(0, at), unescapeOutput(rest.slice(at + 1)));
        break;
      }
      case '%subscription-changed': {
        // %subscription-changed name $session @window index %pane ... : value
        const colon = line.indexOf(' : ');
        const head = line.slice(0, colon < 0 ? line.length : colon).split(' ');
        const value = colon < 0 ? '' : Buffer.from(line.slice(colon + 3), 'latin1').toString('utf8');
        this.handlers.subscription?.(head[1]!, head[3]!, head[5]!, value);
        break;
      }
      case '%window-close':
      case '%unlinked-window-close':
        this.handlers.windowClosed?.(line.split(' ')[1]!);
        break;
      case '%exit':
        this.finish(line.slice(6) || 'tmux session ended');
        break;
      default:
        break;
    }
  }
}

/** The first window of a session we create: replaced as soon as the first agent's window exists. */
export const PLACEHOLDER_NAME = 'anvillm-starting';
