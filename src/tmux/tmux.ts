/**
 * The tmux driver: agents' windows on the user's default tmux server, or on the socket in
 * ANVILLM_TMUX_SOCKET (tests always use their own). Every command goes through a control-mode
 * client (see control.ts) with each argument quoted: no shell ever sees user text, and no secret
 * ever stands in an argv.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

import { ControlClient, PLACEHOLDER_NAME, TmuxError } from './control.js';
import { commandLine, formatLiteral } from './quote.js';

const run = promisify(execFile);

export interface TerminalSize {
  cols: number;
  rows: number;
}

export const DEFAULT_SIZE: TerminalSize = { cols: 120, rows: 40 };

export interface WindowSpec {
  /** The tmux session, e.g. anvillm-claude. */
  session: string;
  /** The window's name: the AnviLLM session id. */
  name: string;
  cwd: string;
  /** Two or more words: tmux runs a single word through `sh -c`. */
  argv: string[];
  /** Set in the window's environment through the control client's stdin, never an argv. */
  env: Record<string, string>;
  size?: TerminalSize;
}

export interface WindowInfo {
  session: string;
  windowId: string;
  name: string;
  paneId: string;
  pid: number;
  dead: boolean;
  deadStatus: number | null;
}

export interface TmuxListeners {
  output?(paneId: string, data: Buffer): void;
  /** A pane's program ended with `status` (128 + n for signal n; null if tmux never said); the window stays until killed. */
  paneDied?(paneId: string, windowId: string, status: number | null): void;
  windowClosed?(windowId: string): void;
  /** Our control client of a tmux session went away: the session ended with its last window, or the server died. */
  sessionEnded?(session: string, reason: string): void;
}

const DEAD_SUBSCRIPTION = 'anvillm-dead';
/** A dead pane whose status has not shown is asked about this often, this many times. */
const STATUS_ASK_MS = 1500;
const STATUS_ASKS = 4;
/** tmux's words for a window, session or server that is not there. */
const GONE = /can't find|no such|no server|no sessions|session ended/i;
const PLACEHOLDER_ARGV = ['sleep', 'infinity'];
// Printable separators only (tmux may turn a tab into "_"); the window name, which a user may
// change to anything, comes last.
const WINDOW_FORMAT = '#{session_name}|#{window_id}|#{pane_id}|#{pane_pid}|#{pane_dead}|#{pane_dead_status}|#{window_name}';

function parseWindow(line: string): WindowInfo {
  const [session, windowId, paneId, pid, dead, status, ...name] = line.split('|');
  return {
    session: session!,
    windowId: windowId!,
    name: name.join('|'),
    paneId: paneId!,
    pid: Number(pid),
    dead: dead === '1',
    deadStatus: status === '' || status === undefined ? null : Number(status),
  };
}

export class Tmux {
  readonly tmuxArgs: string[];
  /** The server's socket: ours, or the user's default server's. */
  readonly socketPath: string;
  private readonly clients = new Map<string, Promise<ControlClient>>();
  private readonly listeners = new Set<TmuxListeners>();
  /** The environment tmux itself runs with: a server we start inherits it as its global environment. */
  private readonly env: NodeJS.ProcessEnv;

  constructor(options: { socket?: string | null; configFile?: string; env?: NodeJS.ProcessEnv } = {}) {
    // -u: UTF-8 whatever the locale, so prompts and screens pass through unmangled.
    this.tmuxArgs = ['-u', ...(options.socket ? ['-S', options.socket] : []), ...(options.configFile ? ['-f', options.configFile] : [])];
    const env = options.env ?? process.env;
    this.socketPath = options.socket ?? path.join(env['TMUX_TMPDIR'] || '/tmp', `tmux-${process.getuid?.() ?? 0}`, 'default');
    // A server started by us must not inherit the daemon's secrets as its global environment.
    this.env = Object.fromEntries(['PATH', 'HOME', 'USER', 'LANG', 'LC_ALL', 'TMUX_TMPDIR'].flatMap((k) => (env[k] ? [[k, env[k]]] : [])));
  }

  static fromEnv(env: NodeJS.ProcessEnv = process.env): Tmux {
    return new Tmux({ socket: env['ANVILLM_TMUX_SOCKET'] || null, env });
  }

  listen(l: TmuxListeners): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Our control client of `session`; `create` makes the session when it does not exist. */
  private client(session: string, create = false): Promise<ControlClient> {
    let c = this.clients.get(session);
    if (!c) {
      c = ControlClient.attach(this.tmuxArgs, session, create ? PLACEHOLDER_ARGV : null, this.env, {
        output: (pane, data) => this.listeners.forEach((l) => l.output?.(pane, data)),
        subscription: (name, windowId, paneId, value) => {
          if (name !== DEAD_SUBSCRIPTION) return;
          const [dead, status, signal] = value.split(' ');
          if (dead !== '1') return;
          // tmux may mark the pane dead (its pty closed) a moment before it reaps the process:
          // the status follows in a later change. A death by signal has no status.
          if (status) this.died(paneId, windowId, Number(status));
          else if (signal) this.died(paneId, windowId, 128 + Number(signal));
          else this.askStatus(session, paneId, windowId, STATUS_ASKS);
        },
        windowClosed: (windowId) => this.listeners.forEach((l) => l.windowClosed?.(windowId)),
        exit: (reason) => {
          if (this.clients.get(session) === c) this.clients.delete(session);
          this.listeners.forEach((l) => l.sessionEnded?.(session, reason));
        },
      }).then(async (client) => {
        await client.command(commandLine(['refresh-client', '-B', `${DEAD_SUBSCRIPTION}:%*:#{pane_dead} #{pane_dead_status} #{pane_dead_signal}`]));
        return client;
      });
      this.clients.set(session, c);
      if (create) this.placeholders.add(session);
      c.catch(() => this.clients.delete(session));
    }
    return c;
  }

  private readonly reported = new Set<string>();
  /** Sessions whose placeholder window (see ControlClient.attach) may still be there. */
  private readonly placeholders = new Set<string>();

  /**
   * Should a dead pane's status never show as a change, it is asked for: again while tmux has not
   * reaped the process yet (a loaded machine can take over a second), then taken as unknown.
   */
  private askStatus(session: string, paneId: string, windowId: string, asks: number): void {
    setTimeout(() => {
      if (this.reported.has(`${windowId}${paneId}`)) return;
      void this.window(session, windowId).then((w) => {
        if (!w?.dead) return;
        if (w.deadStatus !== null || asks <= 1) this.died(paneId, windowId, w.deadStatus);
        else this.askStatus(session, paneId, windowId, asks - 1);
      });
    }, STATUS_ASK_MS).unref();
  }

  /** Each death once: subscriptions repeat when other fields of the value change. */
  private died(paneId: string, windowId: string, status: number | null): void {
    const key = `${windowId}${paneId}`;
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.listeners.forEach((l) => l.paneDied?.(paneId, windowId, status));
  }

  private async command(session: string, words: string[]): Promise<string[]> {
    return (await this.commands(session, [words]))[0]!;
  }

  /**
   * Runs commands on one line. A tmux session ends with its last window, taking our client with
   * it; commands that met a departing client never ran, so they are sent again on a new one.
   */
  private async commands(session: string, commands: string[][], create = false): Promise<string[][]> {
    const lines = commands.map(commandLine);
    for (let attempt = 0; ; attempt++) {
      let client: ControlClient | null = null;
      try {
        client = await this.client(session, create);
        return await client.commands(lines);
      } catch (e) {
        // A server that is exiting (its last session just ended) may still take a new client
        // for a moment: try again, briefly.
        const departed = client ? !client.alive : e instanceof TmuxError && /exited|lost server|no server/i.test(e.message);
        if (!departed || attempt >= 3) throw e;
        if (this.clients.get(session)) this.clients.delete(session);
        await new Promise((r) => setTimeout(r, 50 * (attempt + 1)));
      }
    }
  }

  /**
   * Names a new window in `session` would inherit from tmux, beyond what we set. Creates the
   * session, since its environment is what is asked about.
   */
  async inheritedEnv(session: string): Promise<string[]> {
    const names = new Set(['TMUX', 'TMUX_PANE']);
    const [global, own] = await this.commands(session, [['show-environment', '-g'], ['show-environment', '-t', session]], true);
    for (const line of [...global!, ...own!]) if (!line.startsWith('-')) names.add(line.split('=')[0]!);
    return [...names].sort();
  }

  /** Attaches to an existing tmux session so its output and deaths are reported (after a restart). */
  async watch(session: string): Promise<void> {
    await this.client(session);
  }

  /** Starts `spec.argv` in a new window, by argv (no shell), detached, kept after it exits. */
  async newWindow(spec: WindowSpec): Promise<WindowInfo> {
    if (spec.argv.length < 2) throw new TmuxError('an agent argv needs two or more words (tmux runs one word through sh -c)');
    const size = spec.size ?? DEFAULT_SIZE;
    const target = `${spec.session}:${spec.name}`;
    const words = ['new-window', '-d', '-P', '-F', WINDOW_FORMAT, '-t', `${spec.session}:`, '-n', spec.name, '-c', formatLiteral(spec.cwd)];
    for (const [k, v] of Object.entries(spec.env)) words.push('-e', `${k}=${v}`);
    words.push('--', ...spec.argv);
    // One line, so tmux runs it all before it can notice the program exit: the window stays
    // (remain-on-exit) and we learn the exit status.
    // The window is born at its size (window-size manual, default-size), so nothing the agent
    // prints first is pushed off the screen by a resize.
    const outputs = await this.commands(spec.session, [
      ['set-option', '-t', spec.session, 'window-size', 'manual'],
      ['set-option', '-t', spec.session, 'default-size', `${size.cols}x${size.rows}`],
      words,
      ['set-option', '-w', '-t', target, 'remain-on-exit', 'on'],
    ], true);
    const info = parseWindow(outputs[2]![0]!);
    // The placeholder is there only after our client made the session: not a round trip per window.
    if (this.placeholders.delete(spec.session)) await this.command(spec.session, ['kill-window', '-t', `${spec.session}:${PLACEHOLDER_NAME}`]).catch(() => {});
    return info;
  }

  /**
   * Types `text` into a pane as one paste: bracketed when the program asked for it, newlines
   * kept as they are, so a multi-line prompt arrives as one submission.
   */
  async paste(session: string, paneId: string, text: string): Promise<void> {
    const buffer = `anvillm-${paneId.slice(1)}`;
    await this.command(session, ['set-buffer', '-b', buffer, '--', text]);
    await this.command(session, ['paste-buffer', '-p', '-r', '-d', '-b', buffer, '-t', paneId]);
  }

  /** Named keys (Enter, Escape, C-c, …), each sent as a key press. */
  async sendKeys(session: string, paneId: string, keys: string[]): Promise<void> {
    await this.command(session, ['send-keys', '-t', paneId, ...keys]);
  }

  /** The pane as plain text, as Attach would show it (with `history`, the lines scrolled off above it too). */
  async capture(session: string, paneId: string, options: { history?: boolean } = {}): Promise<string> {
    const lines = await this.command(session, ['capture-pane', '-p', '-J', ...(options.history ? ['-S', '-'] : []), '-t', paneId]);
    const text = lines.join('\n').replace(/\s+$/, '');
    return text === '' ? '' : `${text}\n`;
  }

  async window(session: string, windowId: string): Promise<WindowInfo | null> {
    const lines = await this.command(session, ['list-panes', '-t', windowId, '-F', WINDOW_FORMAT]).catch(() => []);
    return lines[0] ? parseWindow(lines[0]) : null;
  }

  /**
   * Closes a window. There is no respawn-pane: tmux 3.3a's server exits
   * ("fatal: not enough data", control.c) when a pane is respawned while a control client still
   * has its earlier output to send — measured with restarts 15 ms apart, every session lost.
   */
  async killWindow(session: string, windowId: string, name?: string): Promise<void> {
    for (const key of this.reported) if (key.startsWith(`${windowId}%`)) this.reported.delete(key);
    // A recorded window id may name another window by now: a tmux server started again numbers
    // its windows from the start (after a reboot, a session kept as exited still holds its old one).
    if (name !== undefined && (await this.window(session, windowId))?.name !== name) return;
    await this.command(session, ['kill-window', '-t', windowId]).catch((e: unknown) => {
      if (!(e instanceof TmuxError && GONE.test(e.message))) throw e;
    });
  }

  /** Kills a window without a control client (none must attach while a dead pane is there). */
  async killWindowDirectly(windowId: string): Promise<void> {
    await run('tmux', [...this.tmuxArgs, 'kill-window', '-t', windowId], { env: this.env });
  }

  /** Every window of the tmux sessions whose names start with `prefix` (re-adoption after a restart). */
  async listWindows(prefix: string, withPlaceholders = false): Promise<WindowInfo[]> {
    try {
      const { stdout } = await run('tmux', [...this.tmuxArgs, 'list-windows', '-a', '-F', WINDOW_FORMAT], { env: this.env });
      return stdout
        .split('\n')
        .filter((l) => l !== '')
        .map(parseWindow)
        .filter((w) => w.session.startsWith(prefix) && (withPlaceholders || w.name !== PLACEHOLDER_NAME));
    } catch {
      return []; // no server running: nothing to adopt
    }
  }

  /** The argv that attaches a terminal to a window. */
  attachCommand(session: string, windowName: string): string[] {
    return ['tmux', '-S', this.socketPath, 'attach-session', '-t', `${session}:${windowName}`];
  }

  /**
   * Removes the placeholder window a start made, if it is still there (a start refused or failed
   * before its agent's window existed): a tmux session holding nothing else ends with it.
   */
  async dropPlaceholder(session: string): Promise<void> {
    const client = this.clients.get(session);
    if (!client) return;
    await client.then((c) => c.command(commandLine(['kill-window', '-t', `${session}:${PLACEHOLDER_NAME}`]))).catch(() => {});
  }

  /** Removes the placeholders a daemon killed in the middle of a start left (none must outlive it). */
  async dropPlaceholders(prefix: string): Promise<void> {
    for (const w of await this.listWindows(prefix, true)) if (w.name === PLACEHOLDER_NAME) await this.killWindowDirectly(w.windowId).catch(() => {});
  }

  /** Detaches our control clients, placeholders removed first; the agents keep running in tmux. */
  async close(): Promise<void> {
    const sessions = [...this.clients.keys()];
    await Promise.all(sessions.map((s) => this.dropPlaceholder(s)));
    for (const c of this.clients.values()) void c.then((client) => client.close(), () => {});
    this.clients.clear();
  }
}

export { TmuxError };
