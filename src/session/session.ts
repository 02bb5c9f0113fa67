/**
 * One session: an agent's terminal program in a tmux window, its state, its prompt queue and its
 * conversation. State comes from the best source the backend has: its driver's hints (hooks, its
 * status file) and turns (its own transcript) when it has one; otherwise the fallback every
 * backend can use ("quiet"): output quiet for the backend's time AND no child processes beyond
 * those the idle agent had AND the ready/busy patterns agreeing. Timers run only while a session
 * is starting or running; idle sessions cost nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';

import type { BackendDefinition } from '../backends/definition.js';
import { answerOf, formatTurn, renderTurn, type Driver, type Hint, type Turn } from '../backends/driver.js';
import { writeOwnFile } from '../backends/untrusted.js';
import type { Tmux } from '../tmux/tmux.js';
import { aliasProblem } from './ids.js';
import { descendants, endTree, startTime } from './processes.js';
import { plainText } from './terminal-text.js';
import type { SessionEvent, SessionInfo, State } from './types.js';

const MAX_ERR = 64 * 1024;
const MAX_OUTPUT = 1 << 20;

/** What a session needs from the manager that owns it. */
export interface SessionHost {
  tmux: Tmux;
  emit(e: SessionEvent): void;
  /** Records the session list (sessions.json) after a change worth keeping. */
  persist(): void;
  /** Another session already has this alias. */
  aliasTaken(alias: string, by: Session): boolean;
  /** Starts the agent again in the same window (re-reading the sandbox policy). */
  respawn(session: Session): Promise<void>;
  /** Where Save without a path writes. */
  transcriptsDir: string;
  /** $XDG_STATE_HOME/anvillm/sessions/<id>: read-write inside the sandbox. */
  sessionDir(id: string): string;
}

/** What survives a daemon restart (sessions.json). */
export interface SessionRecord {
  id: string;
  backend: string;
  cwd: string;
  alias: string | null;
  context: string;
  winid: number | null;
  createdAt: string;
  tmuxSession: string;
  windowId: string;
  paneId: string;
  pid: number;
  /** The driver's own (Claude's conversation uuid). */
  driver?: Record<string, string>;
}

/** How long the agent has to confirm a submitted prompt before Enter is pressed again. */
const CONFIRM_MS = 2000;
const CONFIRM_TRIES = 3;
/** A driver without turns: how long its `submitted` may take before the turn is judged from the screen. */
const HOOK_WAIT_MS = 3000;
/** After such a driver's `idle`: output quiet this long (the last of the answer arriving), at most SETTLE_MAX_MS. */
const SETTLE_MS = 100;
const SETTLE_MAX_MS = 2000;
/** Hints older than the prompt they would end belong to the turn before (clocks agree: same machine). */
const STALE_SLACK_MS = 5;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Session {
  state: State = 'starting';
  alias: string | null;
  winid: number | null;
  readonly createdAt: Date;
  tmuxSession: string;
  windowId: string;
  paneId: string;
  pid: number;

  private queue: string[] = [];
  private output = '';
  private lastOutputAt = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private startupDeadline: number;
  private answered = new Set<number>();
  private baseline = 0;
  private current: string | null = null;
  private lastOut = '';
  private conversation = '';
  private errText = '';
  private contextText: string;
  /** %output chunks can split a character. */
  private readonly decoder = new StringDecoder('utf8');
  private killing = false;
  /** When the current prompt was sent, and when the agent confirmed taking it (0: not yet). */
  private sentAt = 0;
  private confirmedAt = 0;
  private confirmTimer: NodeJS.Timeout | null = null;
  private pendingTurns: Turn[] = [];
  /** The current prompt being pasted and submitted. */
  private submitting: Promise<void> | null = null;
  /** After the agent said its session ended: the pane's death, with its status, is awaited this long. */
  private endTimer: NodeJS.Timeout | null = null;
  /** A driver's turn is ending: its answer is being read (with the text the agent's hook named). */
  private finishing: { answer: string | undefined } | null = null;
  /** A turn's end is being read off the screen: checks wait. */
  private readingScreen = false;
  /**
   * A driver without turns (hints only): this turn is judged from the screen all the same — its
   * hooks did not confirm the prompt in time, or it was interrupted (no hook says so).
   */
  private screenFallback = false;
  /** Such a driver's hooks: heard at least once; missed on a turn (later turns then start on the screen). */
  private hooksHeard = false;
  private hooksMissed = false;

  constructor(
    private readonly host: SessionHost,
    readonly def: BackendDefinition,
    readonly id: string,
    readonly cwd: string,
    record: Partial<SessionRecord> & Pick<SessionRecord, 'tmuxSession' | 'windowId' | 'paneId' | 'pid'>,
    /** The backend's driver, when it has one: state and turns come from it. */
    readonly driver: Driver | null = null,
  ) {
    this.alias = record.alias ?? null;
    this.contextText = record.context ?? '';
    this.winid = record.winid ?? null;
    this.createdAt = record.createdAt ? new Date(record.createdAt) : new Date();
    this.tmuxSession = record.tmuxSession;
    this.windowId = record.windowId;
    this.paneId = record.paneId;
    this.pid = record.pid;
    this.startupDeadline = Date.now() + def.startup.timeoutMs;
    this.schedule(def.state.quietMs);
    // Once the caller has set the session up (adopt): reports waiting since a restart then count.
    queueMicrotask(() => {
      if (!this.ended) this.driver?.listen((h) => this.onHint(h));
    });
  }

  get backend(): string {
    return this.def.name;
  }

  info(): SessionInfo {
    return {
      id: this.id,
      backend: this.def.name,
      state: this.state,
      pid: this.pid || null,
      alias: this.alias,
      cwd: this.cwd,
      winid: this.winid,
      createdAt: this.createdAt,
    };
  }

  record(): SessionRecord {
    return {
      id: this.id,
      backend: this.def.name,
      cwd: this.cwd,
      alias: this.alias,
      context: this.context,
      winid: this.winid,
      createdAt: this.createdAt.toISOString(),
      tmuxSession: this.tmuxSession,
      windowId: this.windowId,
      paneId: this.paneId,
      pid: this.pid,
      ...(this.driver ? { driver: this.driver.record() } : {}),
    };
  }

  get ended(): boolean {
    return this.state === 'exited' || this.state === 'error';
  }

  out(): string {
    return this.lastOut;
  }

  transcript(): string {
    return this.conversation;
  }

  err(): string {
    return this.errText;
  }

  screen(): Promise<string> {
    return this.host.tmux.capture(this.tmuxSession, this.paneId);
  }

  /** Appends to err, keeping the newest 64 KiB. */
  addError(text: string): void {
    this.errText += text.endsWith('\n') ? text : `${text}\n`;
    if (this.errText.length > MAX_ERR) this.errText = this.errText.slice(-MAX_ERR);
  }

  /** Throws why `text` cannot be a prompt of this session (exited, a slash command that needs the terminal). */
  checkPrompt(text: string): void {
    if (this.ended) throw new Error(`session ${this.id} has exited: start a new one`);
    const slash = /^\/[^\s]+/.exec(text.trimStart());
    if (slash) {
      const trimmed = text.trim();
      const allowed = this.def.slashCommands.some((c) => trimmed === c || trimmed.startsWith(`${c} `));
      if (!allowed) throw new Error(`${slash[0]} needs the terminal: use Attach`);
    }
  }

  /**
   * Checks a prompt now (so a client's write can fail), then sends it or queues it until idle.
   * Escape characters are removed: an "\x1b[201~" in it would end the bracketed paste early and
   * type the rest as keys, past these checks.
   */
  prompt(text: string): void {
    text = text.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '');
    this.checkPrompt(text);
    const slash = text.trimStart().startsWith('/');
    const full = this.context && !slash ? `${this.context}\n\n${text}` : text;
    this.queue.push(full);
    if (this.state === 'idle') void this.sendNext();
  }

  /** Prompts waiting for the agent to be idle. */
  get queued(): number {
    return this.queue.length;
  }

  async stop(): Promise<void> {
    if (this.ended) return;
    this.queue = [];
    // A stop key typed into a paste still arriving would be lost (or end up in the prompt).
    await this.submitting;
    await this.host.tmux.sendKeys(this.tmuxSession, this.paneId, this.def.stopKeys);
    // An interrupt fires no hook: a driver without turns leaves this turn's end to the screen.
    if (this.driver && !this.driverTurns && this.state === 'running' && !this.screenFallback) {
      this.screenFallback = true;
      this.lastOutputAt = Date.now();
      this.schedule(this.def.state.quietMs);
    }
  }

  async kill(): Promise<void> {
    this.clearTimer();
    this.clearEndTimer();
    this.driver?.close();
    this.queue = [];
    this.killing = true; // the window's close, which arrives first, is ours
    // Recorded before the window goes: a process that ignores the hangup or left the terminal's
    // session (a daemon the agent started) is ended too.
    const tree = this.pid ? [this.pid, ...descendants(this.pid)].map((pid) => ({ pid, start: startTime(pid) })) : [];
    await this.host.tmux.killWindow(this.tmuxSession, this.windowId);
    await endTree(tree);
    if (!this.ended) {
      this.setState('exited');
      this.host.emit({ id: this.id, kind: 'exit', status: null });
    }
  }

  async restart(): Promise<void> {
    if (this.killing) throw new Error(`session ${this.id} was killed: start a new one`);
    this.clearTimer();
    this.clearEndTimer();
    // Queued prompts stay queued: they go once the agent is ready again.
    this.current = null;
    this.finishing = null;
    this.screenFallback = false;
    this.pendingTurns = [];
    this.answered.clear();
    this.setState('starting'); // before the await: the old agent's last output must not end a turn
    try {
      await this.host.respawn(this);
    } catch (e) {
      this.addError(`restart failed: ${(e as Error).message}`);
      this.driver?.close();
      this.setState('error');
      this.host.emit({ id: this.id, kind: 'error', text: 'restart failed' });
      throw e;
    }
    this.startupDeadline = Date.now() + this.def.startup.timeoutMs;
    this.lastOutputAt = Date.now();
    this.schedule(this.def.state.quietMs);
    this.driver?.listen((h) => this.onHint(h));
  }

  async save(target?: string): Promise<string> {
    if (target !== undefined) checkPath(target);
    const save = this.def.save;
    const stamp = `${new Date().toISOString().replace(/[:.]/g, '-')}-${this.id}`;
    // The agent writes its own save, inside the sandbox: the transcripts directory is read-only
    // there (it is AnviLLM's configuration), the session's state directory is not.
    const file = target
      ? path.resolve(this.cwd, target)
      : save.method === 'command'
        ? path.join(this.host.sessionDir(this.id), 'saves', `${stamp}.json`)
        : path.join(this.host.transcriptsDir, `${stamp}.txt`);
    if (save.method === 'command' && !target) fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    if (save.method === 'command') {
      this.sendCommand(save.save.replaceAll('{path}', file));
      return file;
    }
    if (this.driver?.save) {
      this.driver.save(file, this.conversation);
      return file;
    }
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeOwnFile(file, this.conversation, 0o644); // a link planted at that name is replaced, not followed
    return file;
  }

  async load(target: string): Promise<void> {
    checkPath(target);
    if (this.driver?.load && this.def.save.method !== 'command') {
      if (this.ended) throw new Error(`session ${this.id} has exited: start a new one`);
      this.driver.load(path.resolve(this.cwd, target));
      await this.restart();
      return;
    }
    const save = this.def.save;
    if (save.method !== 'command') throw new Error(`${this.def.name} cannot load a saved conversation: use Attach`);
    const file = path.resolve(this.cwd, target);
    if (!fs.existsSync(file)) throw new Error(`${file} does not exist`);
    this.sendCommand(save.load.replaceAll('{path}', file));
  }

  setAlias(alias: string): void {
    const problem = aliasProblem(alias);
    if (problem) throw new Error(problem);
    if (this.host.aliasTaken(alias, this)) throw new Error(`alias "${alias}" already exists: pick another`);
    this.alias = alias;
    this.host.emit({ id: this.id, kind: 'alias', alias });
    this.host.persist();
  }

  setWinid(winid: number | null): void {
    this.winid = winid;
    this.host.persist();
  }

  /** Text prepended to every prompt (not to slash commands). */
  get context(): string {
    return this.contextText;
  }

  set context(text: string) {
    this.contextText = text;
    this.host.persist();
  }

  /** The command that attaches a terminal to this session's window. */
  attachCommand(): string[] {
    return this.host.tmux.attachCommand(this.tmuxSession, this.id);
  }

  /** Pane output, routed here by the manager. */
  onOutput(data: Buffer): void {
    this.lastOutputAt = Date.now();
    if (this.state === 'running' || this.state === 'starting') {
      this.output += this.decoder.write(data);
      if (this.output.length > MAX_OUTPUT) this.output = this.output.slice(-MAX_OUTPUT);
      if (this.byScreen) this.schedule(this.def.state.quietMs);
    }
  }

  /** The agent's program ended with `status`. */
  async onDeath(status: number | null): Promise<void> {
    if (this.ended) return;
    this.clearTimer();
    this.driver?.close();
    const screen = await this.screen().catch(() => '');
    const last = screen.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('Pane is dead')).slice(-20).join('\n');
    this.addError(`the agent exited with status ${status ?? 'unknown'}; its last screen lines:\n${last}`);
    this.setState('exited');
    this.host.emit({ id: this.id, kind: 'exit', status });
    // Its last screen is kept in err; the dead window goes. Measured: tmux 3.3a's server can
    // segfault when a control client attaches to a session holding a dead pane whose exit status
    // it never learnt (a daemon restart after an agent crashed) — taking every tmux session down.
    // Restart makes a new window.
    await this.host.tmux.killWindow(this.tmuxSession, this.windowId).catch(() => {});
  }

  /** The daemon lets go (it is stopping; the agent runs on in tmux): no timers, no watchers. */
  detach(): void {
    this.clearTimer();
    this.clearEndTimer();
    this.driver?.close();
  }

  /** The window is gone (killed outside AnviLLM). */
  onGone(): void {
    if (this.ended || this.killing) return;
    this.clearTimer();
    this.driver?.close();
    this.addError('the tmux window was closed');
    this.setState('exited');
    this.host.emit({ id: this.id, kind: 'exit', status: null });
  }

  /**
   * After a daemon restart: an agent found alive may be mid-turn; look again. Its processes now
   * are taken as its idle ones (a tool running at this moment is missed: hooks do better).
   */
  adopt(): void {
    this.baseline = descendants(this.pid).length;
    if (this.driver && !this.driverTurns) {
      // Hints only, and no status to ask: the screen says whether a turn is in progress.
      this.screenFallback = true;
    } else if (this.driver) {
      // The agent's record gives back the conversation, and the turn in progress, if any, whose
      // end its hints will tell.
      this.clearTimer();
      const status = this.driver.status();
      const turns = this.driver.takeTurns();
      // The turn in progress is the last one if its answer has not begun (or stopped at a tool);
      // its prompt may also not be written yet, and then every turn here is complete.
      const last = turns[turns.length - 1];
      const busy = status === 'running' || status === 'waiting';
      const open = busy && last && last.parts[last.parts.length - 1]?.kind !== 'text' ? turns.pop() : undefined;
      for (const t of turns) this.conversation += renderTurn(t);
      if (turns.length > 0) this.lastOut = answerOf(turns[turns.length - 1]!);
      if (busy) {
        // A turn is in progress (its prompt perhaps not yet written): its end waits for its answer.
        this.pendingTurns = open ? [open] : [];
        this.current = open?.prompt ?? '';
        this.confirmedAt = 1; // taken long ago
      }
      this.state = status ?? 'idle';
      return;
    }
    this.state = 'running';
    this.schedule(this.def.state.quietMs);
  }

  /**
   * True while the turn is judged from the screen: no driver, a slash command (which fires no
   * hooks), or a hints-only driver whose hooks did not come for this turn.
   */
  private get byScreen(): boolean {
    return !this.driver || this.screenFallback || (this.current?.trimStart().startsWith('/') ?? false);
  }

  /** The driver records turns (a transcript); false: hints only, answers read from the screen. */
  private get driverTurns(): boolean {
    return this.driver?.turns !== false;
  }

  private confirm(at: number): void {
    this.confirmedAt = at;
    this.hooksHeard = true;
    this.clearConfirm();
  }

  /** What the agent's driver says; stale hints (from before the current prompt) are dropped. */
  private onHint(h: Hint): void {
    if (this.ended || this.state === 'starting') return;
    if (h.kind === 'ended') {
      // Its exit status comes with the pane's death; if that does not follow, end anyway.
      this.clearEndTimer();
      this.endTimer = setTimeout(() => {
        this.endTimer = null;
        if (startTime(this.pid) === null) void this.onDeath(null);
      }, 1500);
      this.endTimer.unref();
      return;
    }
    if (h.at < this.sentAt - STALE_SLACK_MS) return;
    // A tool starting (or the status file turning busy) after our prompt also says it was taken.
    if (h.kind === 'running' && this.current !== null && !this.confirmedAt) this.confirm(h.at);
    // While our prompt is not yet taken, or for news older than its taking, the agent is still
    // speaking of the turn before (its status file lags its Stop hook by some 30 ms).
    if (h.kind !== 'submitted' && this.current !== null && (!this.confirmedAt || h.at < this.confirmedAt - STALE_SLACK_MS)) return;
    switch (h.kind) {
      case 'submitted':
        this.confirm(h.at);
        if (this.state !== 'running') this.setState('running');
        return;
      case 'running':
        // Also a prompt typed in the terminal (Attach): the state says what the screen shows.
        if (this.state !== 'running') this.setState('running');
        return;
      case 'waiting':
        this.setState('waiting');
        return;
      case 'idle':
        if (this.state !== 'running' && this.state !== 'waiting') return;
        if (!this.driverTurns) {
          this.clearConfirm();
          const deadline = Date.now() + SETTLE_MAX_MS;
          this.schedule(0, () => this.settleScreenTurn(deadline));
          return;
        }
        if (this.finishing) {
          this.finishing.answer ??= h.answer;
          return;
        }
        this.finishing = { answer: h.answer };
        // Without the answer's text (an interrupt, or the status file ahead of the Stop hook)
        // give the hook a moment to name it.
        if (h.answer === undefined) this.schedule(50, () => this.finishDriverTurn(0));
        else this.finishDriverTurn(0);
        return;
    }
  }

  /**
   * A turn ended: its answer is read from the agent's record, which can lag the hook by a few
   * milliseconds; a turn with no answer yet, or not the one the hook named, is read again for up
   * to half a second.
   */
  private finishDriverTurn(attempt: number): void {
    this.clearConfirm();
    const answer = this.finishing?.answer;
    this.pendingTurns.push(...this.driver!.takeTurns());
    const last = this.pendingTurns[this.pendingTurns.length - 1];
    const lastText = last?.parts.filter((p) => p.kind === 'text').pop()?.text;
    const incomplete =
      (this.current !== null && (!last || last.parts.length === 0)) || (answer !== undefined && answer.trim() !== (lastText ?? '').trim());
    if (incomplete && attempt < 20) {
      this.schedule(25, () => this.finishDriverTurn(attempt + 1));
      return;
    }
    this.finishing = null;
    const turns = this.pendingTurns.splice(0);
    if (!last && this.current !== null) this.addError(`no answer was recorded for the last prompt: is the ${this.def.name} agent's own record visible in the sandbox? (anvillm sandbox check)`);
    this.current = null;
    if (turns.length > 0) {
      for (const t of turns) this.conversation += renderTurn(t);
      this.lastOut = answerOf(turns[turns.length - 1]!);
      this.host.emit({ id: this.id, kind: 'out' });
    }
    this.output = '';
    this.setState('idle');
    void this.sendNext();
  }

  /**
   * A hints-only driver said the turn ended: its answer is read from the output once the last of
   * it has arrived (the hook can overtake the pane's output by a few milliseconds).
   */
  private settleScreenTurn(deadline: number): Promise<void> | void {
    if (this.ended || (this.state !== 'running' && this.state !== 'waiting')) return;
    const since = Date.now() - this.lastOutputAt;
    if (since < SETTLE_MS && Date.now() < deadline) return this.schedule(SETTLE_MS - since, () => this.settleScreenTurn(deadline));
    this.screenFallback = false;
    return this.finishTurn();
  }

  /**
   * Presses Enter again while the agent has not confirmed the prompt: an Enter can be dropped. A
   * hints-only driver's agent gets no second Enter: its hooks may simply not run (a Kiro that
   * ignores --agent), so the turn is judged from the screen instead.
   */
  private armConfirm(tries: number): void {
    this.clearConfirm();
    const hintsOnly = !this.driverTurns;
    this.confirmTimer = setTimeout(() => {
      this.confirmTimer = null;
      if (this.confirmedAt || this.state !== 'running' || this.ended) return;
      if (hintsOnly) {
        if (!this.hooksHeard && !this.hooksMissed) this.addError(`no hook from ${this.def.name} confirmed the prompt within ${HOOK_WAIT_MS / 1000} s: its state is read from the screen until one does`);
        this.hooksMissed = true;
        this.screenFallback = true;
        void this.check();
        return;
      }
      if (tries >= CONFIRM_TRIES) {
        // Its hooks are not reaching us: the screen says when this turn is over.
        this.addError(`the agent did not confirm the prompt after ${CONFIRM_TRIES} Enters (are its hooks running?): judging this turn from the screen`);
        this.screenFallback = true;
        this.schedule(this.def.state.quietMs);
        return;
      }
      void this.host.tmux.sendKeys(this.tmuxSession, this.paneId, this.def.submit.keys).catch(() => {});
      this.armConfirm(tries + 1);
    }, hintsOnly ? HOOK_WAIT_MS : CONFIRM_MS);
  }

  private clearEndTimer(): void {
    if (this.endTimer) clearTimeout(this.endTimer);
    this.endTimer = null;
  }

  private clearConfirm(): void {
    if (this.confirmTimer) clearTimeout(this.confirmTimer);
    this.confirmTimer = null;
  }

  private sendCommand(text: string): void {
    if (this.ended) throw new Error(`session ${this.id} has exited: start a new one`);
    this.queue.push(text);
    if (this.state === 'idle') void this.sendNext();
  }

  private async sendNext(): Promise<void> {
    const text = this.queue.shift();
    if (text === undefined) return;
    this.current = text;
    this.output = '';
    this.sentAt = Date.now();
    this.confirmedAt = 0;
    // Hooks missed before and never heard: this turn starts on the screen (hints still count).
    this.screenFallback = !!this.driver && !this.driverTurns && this.hooksMissed && !this.hooksHeard;
    this.setState('running');
    this.submitting = (async () => {
      try {
        await this.host.tmux.paste(this.tmuxSession, this.paneId, text);
        // An Enter sent at once after the text can be dropped by the agent.
        await sleep(this.def.submit.delayMs);
        await this.host.tmux.sendKeys(this.tmuxSession, this.paneId, this.def.submit.keys);
      } catch (e) {
        this.addError(`could not send the prompt: ${(e as Error).message}`);
      }
    })();
    await this.submitting;
    this.submitting = null;
    this.lastOutputAt = Date.now();
    if (this.byScreen) this.schedule(this.def.state.quietMs);
    else if (!this.confirmedAt) this.armConfirm(1);
  }

  private setState(to: State): void {
    const from = this.state;
    if (from === to) return;
    this.state = to;
    this.host.emit({ id: this.id, kind: 'state', from, to });
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.clearConfirm();
  }

  private schedule(ms: number, then: () => void | Promise<void> = () => this.check()): void {
    this.clearTimer();
    this.timer = setTimeout(() => {
      this.timer = null;
      Promise.resolve(then()).catch((e: unknown) => this.addError(`state check failed: ${(e as Error).message}`));
    }, Math.max(10, ms));
  }

  private async check(): Promise<void> {
    if (this.ended || this.readingScreen) return;
    const quietMs = this.def.state.quietMs;
    const sinceOutput = Date.now() - this.lastOutputAt;
    if (this.state === 'starting') return this.checkStartup(sinceOutput);
    if (this.state !== 'running' || !this.byScreen) return;
    if (sinceOutput < quietMs) return this.schedule(quietMs - sinceOutput);
    // A tool still running in a child process means the agent is working, however quiet.
    if (descendants(this.pid).length > this.baseline) return this.schedule(quietMs);
    const { busy, ready } = this.def.state;
    if (busy || ready) {
      const turn = this.sentAt;
      const screen = await this.screen();
      // A hook may have ended the turn meanwhile (and the next one begun).
      if (this.ended || this.state !== 'running' || !this.byScreen || this.sentAt !== turn) return;
      if ((busy && busy.test(screen)) || (ready && !ready.test(screen))) return this.schedule(quietMs);
    }
    // A slash command fires no hooks, but the agent records what it printed.
    if (this.driver && this.driverTurns) {
      this.finishing = { answer: undefined };
      return this.finishDriverTurn(0);
    }
    await this.finishTurn();
  }

  private async checkStartup(sinceOutput: number): Promise<void> {
    const screen = await this.screen().catch(() => '');
    if (this.ended) return;
    for (const [i, dialog] of this.def.startup.dialogs.entries()) {
      if (!this.answered.has(i) && dialog.match.test(screen)) {
        this.answered.add(i);
        this.lastOutputAt = Date.now();
        await this.host.tmux.sendKeys(this.tmuxSession, this.paneId, dialog.keys);
        return this.schedule(this.def.state.quietMs);
      }
    }
    const ready = this.def.startup.ready ?? this.def.state.ready;
    const quiet = sinceOutput >= this.def.state.quietMs;
    if (quiet && (!ready || ready.test(screen))) {
      this.baseline = descendants(this.pid).length;
      this.output = '';
      this.setState('idle');
      this.host.persist();
      this.driver?.takeTurns(); // anything before the first prompt (a resumed conversation) is not an answer
      void this.sendNext();
      return;
    }
    if (Date.now() > this.startupDeadline) {
      this.addError(`the agent did not become ready within ${this.def.startup.timeoutMs / 1000} s; its screen:\n${screen}`);
      this.setState('error');
      this.host.emit({ id: this.id, kind: 'error', text: 'startup timed out' });
      return;
    }
    this.schedule(quiet ? this.def.state.quietMs : this.def.state.quietMs - sinceOutput);
  }

  private async finishTurn(): Promise<void> {
    const prompt = this.current;
    this.current = null;
    this.screenFallback = false;
    this.clearConfirm();
    if (prompt !== null) {
      let screen: string | null = null;
      if (this.def.response.source === 'screen') {
        this.readingScreen = true;
        screen = await this.host.tmux.capture(this.tmuxSession, this.paneId, { history: true }).catch(() => '');
        this.readingScreen = false;
        if (this.ended) return;
      }
      this.lastOut = screen === null ? this.extractResponse(prompt) : this.responseOnScreen(prompt, screen);
      this.conversation += formatTurn(prompt, this.lastOut);
      this.host.emit({ id: this.id, kind: 'out' });
    }
    this.output = '';
    this.setState('idle');
    void this.sendNext();
  }

  /** The text that appeared after the prompt: escapes stripped, the prompt's echo and the program's chrome removed. */
  private extractResponse(prompt: string): string {
    let text = plainText(this.output);
    const echo = text.indexOf(prompt);
    if (echo >= 0) text = text.slice(echo + prompt.length);
    const strip = [...this.def.response.strip, ...(this.def.state.ready ? [this.def.state.ready] : [])];
    return this.cleanResponse(text.split('\n'), strip);
  }

  /**
   * The answer on a full-screen agent's pane: the lines after the prompt's echo (its lines, the
   * first behind a marker such as "› " or "> ") and before the input box (the last line matching
   * state.ready).
   */
  private responseOnScreen(prompt: string, screen: string): string {
    const lines = screen.split('\n').map((l) => l.replace(/\s+$/, ''));
    const ready = this.def.state.ready;
    let end = lines.length;
    if (ready) while (end > 0 && !ready.test(lines[end - 1]!)) end--;
    if (end === 0) end = lines.length;
    else end--;
    const want = prompt.trim().split('\n').map((l) => l.trim());
    const first = new RegExp(`^[^\\p{L}\\p{N}]*${want[0]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'u');
    const echoAt = (i: number, whole: boolean) => first.test(lines[i]!.trim()) && (!whole || want.every((w, k) => k === 0 || lines[i + k]?.trim() === w));
    let start = end - 1;
    while (start >= 0 && !echoAt(start, true)) start--;
    // Lines the program wrapped itself do not compare: the first line alone, then.
    if (start < 0) for (start = end - 1; start >= 0 && !echoAt(start, false); ) start--;
    return this.cleanResponse(lines.slice(start < 0 ? 0 : start + want.length, end), this.def.response.strip);
  }

  /** Lines compare as on the screen, without trailing spaces (tmux drops them there). */
  private cleanResponse(lines: string[], strip: RegExp[]): string {
    return lines
      .map((line) => line.replace(/\s+$/, ''))
      .filter((line) => !strip.some((re) => re.test(line)))
      .map((line) => this.def.response.remove.reduce((l, re) => l.replace(re, ''), line))
      .join('\n')
      .replace(/^\s*\n/, '')
      .replace(/\s+$/, '');
  }
}

/** A path typed into the agent (save/load commands) must stay one line of text. */
function checkPath(p: string): void {
  if (/[\x00-\x1f\x7f]/.test(p)) throw new Error(`bad path ${JSON.stringify(p)}: no control characters or newlines`);
}
