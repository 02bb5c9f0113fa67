/**
 * One session: an agent's terminal program in a tmux window, its prompt queue and its
 * conversation. What it is doing is one phase (phase.ts), moved only by the pure rules of
 * rules.ts; this class is the shell around them: it feeds them what happens (pane output, the
 * driver's hints, timers, answers to its requests) and performs the effects they give (tmux keys,
 * looks at the screen and /proc, the driver's record, events). Every end — kill, death, the
 * window gone, a start that timed out, a restart that failed — goes through `end`, which does all
 * the cleanup. Timers run only while a session is starting or in a turn; idle sessions cost nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';

import type { BackendDefinition } from '../backends/definition.js';
import type { Driver } from '../backends/driver.js';
import type { Tmux } from '../tmux/tmux.js';
import { Conversation } from './conversation.js';
import { aliasProblem } from './ids.js';
import { stateOf, startingMachine, type EndCause, type Effect, type Input, type Machine } from './phase.js';
import { descendants, endAgent, processIdentity, treeOf, type Tracked } from './processes.js';
import type { Rules } from './rules.js';
import { Runner } from './runner.js';
import { checkPath, saveConversation } from './saves.js';
import { Serial } from './serial.js';
import type { Place, SessionRecord } from './store.js';
import type { SessionEvent, SessionInfo, State } from './types.js';

/** After the agent said its session ended, its death (with its status) is awaited this long from tmux before it is ended all the same. */
const EXIT_GRACE_MS = 1500;
/** Lifecycle commands of one session running or waiting at once; more are refused. */
const MAX_COMMANDS = 8;

/** What a session needs from the manager that owns it. */
export interface SessionHost {
  tmux: Tmux;
  emit(e: SessionEvent): void;
  /** Records the session list (sessions.json) after a change worth keeping. */
  persist(): void;
  /** Another session already has this alias. */
  aliasTaken(alias: string, by: Session): boolean;
  /** Starts the agent again (re-reading the sandbox policy): in the same window, or a new one if it is gone. */
  respawn(session: Session): Promise<Place>;
  /** A killed session's processes are gone: it leaves the list (with a `gone` event). */
  remove(session: Session): void;
  /** Where Save without a path writes. */
  transcriptsDir: string;
  /** $XDG_STATE_HOME/anvillm/sessions/<id>: read-write inside the sandbox. */
  sessionDir(id: string): string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Session {
  alias: string | null;
  winid: number | null;
  readonly createdAt: Date;

  private place: Place;
  private readonly rules: Rules;
  /** The rules, run one input at a time, with the phase's timer. */
  private readonly runner: Runner;
  private exitWatch: NodeJS.Timeout | null = null;
  /** The prompt being pasted and submitted (a stop key must not land inside it). */
  private submission: Promise<void> | null = null;
  /** A restart is replacing the window: the old one's end (what tmux reports of it) is not the session's. */
  private replacing = false;
  /** Lifecycle commands (restart, stop, kill, load, save), one at a time. */
  private readonly lifecycle = new Serial(MAX_COMMANDS, (n) => `session ${this.id} is busy: ${n} commands are running or waiting; try again`);
  /** The end's cleanup, while it runs. */
  private ending: Promise<void> | null = null;
  private readonly said = new Conversation();
  private contextText: string;
  /** %output chunks can split a character. */
  private readonly decoder = new StringDecoder('utf8');

  constructor(
    private readonly host: SessionHost,
    readonly def: BackendDefinition,
    readonly id: string,
    readonly cwd: string,
    record: Partial<SessionRecord> & Place,
    /** The backend's driver, when it has one: state and turns come from it. */
    readonly driver: Driver | null = null,
    /** `exited`: a recorded session whose agent is gone (kept by a restarted daemon, for restart). */
    initial: 'starting' | 'exited' = 'starting',
  ) {
    this.alias = record.alias ?? null;
    this.contextText = record.context ?? '';
    this.winid = record.winid ?? null;
    this.createdAt = record.createdAt ? new Date(record.createdAt) : new Date();
    this.place = { tmuxSession: record.tmuxSession, windowId: record.windowId, paneId: record.paneId, pid: record.pid };
    this.rules = { def, driver: !driver ? 'none' : driver.turns === false ? 'hints' : 'turns' };
    const starting = startingMachine(Date.now(), def.startup.timeoutMs, def.state.quietMs);
    const machine: Machine = initial === 'exited' ? { ...starting, phase: { kind: 'ended', state: 'exited', killed: false } } : starting;
    this.runner = new Runner(machine, this.rules, (e, origin) => this.perform(e, origin));
    // Once the caller has set the session up (adopt): reports waiting since a restart then count.
    queueMicrotask(() => {
      if (!this.ended) this.listen();
    });
  }

  get state(): State {
    return stateOf(this.runner.machine.phase);
  }

  get ended(): boolean {
    return this.runner.machine.phase.kind === 'ended';
  }

  get backend(): string {
    return this.def.name;
  }

  get tmuxSession(): string {
    return this.place.tmuxSession;
  }

  get windowId(): string {
    return this.place.windowId;
  }

  get paneId(): string {
    return this.place.paneId;
  }

  get pid(): number {
    return this.place.pid;
  }

  info(): SessionInfo {
    return { id: this.id, backend: this.def.name, state: this.state, pid: this.pid || null, alias: this.alias, cwd: this.cwd, winid: this.winid, createdAt: this.createdAt };
  }

  record(): SessionRecord {
    const { id, cwd, alias, context, winid } = this;
    return { id, backend: this.def.name, cwd, alias, context, winid, createdAt: this.createdAt.toISOString(), ...this.place, ...(this.driver ? { driver: this.driver.record() } : {}) };
  }

  /** The last turn's answer. */
  out(): string {
    return this.said.lastAnswer;
  }

  transcript(): string {
    return this.said.transcript;
  }

  err(): string {
    return this.said.err;
  }

  screen(): Promise<string> {
    return this.host.tmux.capture(this.tmuxSession, this.paneId);
  }

  /** Appends to err, keeping the newest 64 KiB. */
  addError(text: string): void {
    this.said.addError(text);
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
    this.runner.handle({ kind: 'prompt', text: this.context && !slash ? `${this.context}\n\n${text}` : text });
  }

  /** Prompts waiting for the agent to be idle. */
  get queued(): number {
    return this.runner.machine.queue.length;
  }

  stop(): Promise<void> {
    return this.lifecycle.run(() => this.stopNow());
  }

  kill(): Promise<void> {
    return this.lifecycle.run(async () => {
      this.runner.handle({ kind: 'end', cause: { kind: 'killed' } });
      await this.ending;
    });
  }

  restart(): Promise<void> {
    return this.lifecycle.run(() => this.restartNow());
  }

  save(target?: string): Promise<string> {
    return this.lifecycle.run(async () =>
      saveConversation(
        { def: this.def, id: this.id, cwd: this.cwd, driver: this.driver, conversation: this.said.transcript, type: (text) => this.sendCommand(text) },
        { sessionDir: this.host.sessionDir(this.id), transcriptsDir: this.host.transcriptsDir },
        target,
      ),
    );
  }

  load(target: string): Promise<void> {
    return this.lifecycle.run(() => this.loadNow(target));
  }

  private async stopNow(): Promise<void> {
    if (this.ended) return;
    this.runner.handle({ kind: 'stop' });
    // A stop key typed into a paste still arriving would be lost (or end up in the prompt).
    await this.submission;
    await this.host.tmux.sendKeys(this.tmuxSession, this.paneId, this.def.stopKeys);
    this.runner.handle({ kind: 'interrupted' });
  }

  /** The agent again, in a new window; resolves once the old agent's processes are gone. */
  private async restartNow(): Promise<void> {
    const p = this.runner.machine.phase;
    if (p.kind === 'ended' && p.killed) throw new Error(`session ${this.id} was killed: start a new one`);
    this.clearExitWatch();
    // An ended agent's pid may be another process's by now.
    const old = this.ended ? [] : treeOf(this.pid);
    // Starting before the await: the old agent's last output must not end a turn.
    this.runner.handle({ kind: 'restart' });
    this.replacing = true;
    try {
      this.place = await this.host.respawn(this);
    } catch (e) {
      this.runner.handle({ kind: 'end', cause: { kind: 'restartFailed', message: (e as Error).message } });
      await this.ending;
      throw e;
    } finally {
      this.replacing = false;
    }
    this.host.persist();
    this.runner.handle({ kind: 'respawned' });
    this.listen();
    await this.endProcesses(old);
  }

  private async loadNow(target: string): Promise<void> {
    checkPath(target);
    if (this.driver?.load && this.def.save.method !== 'command') {
      if (this.ended) throw new Error(`session ${this.id} has exited: start a new one`);
      this.driver.load(path.resolve(this.cwd, target));
      await this.restartNow();
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
    this.runner.handle({ kind: 'output', text: this.decoder.write(data) });
  }

  /** The agent's program ended with `status`. */
  async onDeath(status: number | null): Promise<void> {
    if (this.ended || this.replacing) return;
    // Its last screen goes to err before the news of its end.
    const screen = await this.screen().catch(() => '');
    const lastLines = screen.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('Pane is dead')).slice(-20).join('\n');
    this.runner.handle({ kind: 'end', cause: { kind: 'died', status, lastLines } });
    await this.ending;
  }

  /** The window is gone (killed outside AnviLLM; a kill's own close comes after the session ended, and is ignored). */
  onGone(): void {
    if (this.replacing) return;
    this.runner.handle({ kind: 'end', cause: { kind: 'gone' } });
  }

  /** After a daemon restart: an agent found alive may be mid-turn; its driver's record says, or the screen. */
  adopt(): void {
    const record = this.rules.driver === 'turns' ? this.driver : null;
    this.runner.handle({ kind: 'adopt', children: descendants(this.pid).length, status: record?.status() ?? null, turns: record?.takeTurns() ?? [] });
  }

  /** The daemon lets go (it is stopping; the agent runs on in tmux): no timers, no watchers. */
  detach(): void {
    this.runner.detach();
    this.stopWatching();
  }

  private listen(): void {
    this.driver?.listen((hint) => this.runner.handle({ kind: 'hint', hint }));
  }

  private stopWatching(): void {
    this.runner.clearTimer();
    this.clearExitWatch();
    this.driver?.close();
  }

  private clearExitWatch(): void {
    if (this.exitWatch) clearTimeout(this.exitWatch);
    this.exitWatch = null;
  }

  private sendCommand(text: string): void {
    if (this.ended) throw new Error(`session ${this.id} has exited: start a new one`);
    this.runner.handle({ kind: 'prompt', text });
  }

  // ── The shell: inputs in (runner.ts), effects out ────────────────────────────────────────

  private perform(e: Effect, origin: Input): void {
    const { tmuxSession, paneId } = this.place;
    switch (e.kind) {
      case 'state': {
        const signalAt = origin.kind === 'hint' ? (origin.hint.shown ?? origin.hint.at) : undefined;
        return this.host.emit({ id: this.id, kind: 'state', from: e.from, to: e.to, ...(signalAt === undefined ? {} : { signalAt }) });
      }
      case 'submit':
        return void this.submit(e.ticket, e.text);
      case 'keys':
        // Failing keys (the window going) show in what follows: the agent's death, or a timeout.
        return void this.host.tmux.sendKeys(tmuxSession, paneId, e.keys).catch(() => {});
      case 'look':
        return void this.look(e.ticket, e.screen);
      case 'takeTurns':
        return this.runner.handle({ kind: 'turns', ticket: e.ticket, turns: this.driver?.takeTurns() ?? [] });
      case 'discardTurns':
        return void this.driver?.takeTurns();
      case 'capture':
        return void this.host.tmux
          .capture(tmuxSession, paneId, { history: true })
          .catch(() => '')
          .then((screen) => this.runner.handle({ kind: 'captured', ticket: e.ticket, screen }));
      case 'answer':
        this.said.answer(e.answer, e.transcript, e.replaces);
        return e.announce ? this.host.emit({ id: this.id, kind: 'out' }) : undefined;
      case 'error':
        return this.addError(e.text);
      case 'persist':
        return this.host.persist();
      case 'expectExit':
        return this.expectExit();
      case 'end':
        // After an end still running (a kill during a crash's cleanup): its events come first.
        this.ending = (this.ending ?? Promise.resolve()).catch(() => {}).then(() => this.end(e.cause, e.from, e.announce));
        return;
    }
  }

  private async submit(ticket: number, text: string): Promise<void> {
    const { tmuxSession, paneId } = this.place;
    this.submission = (async () => {
      try {
        await this.host.tmux.paste(tmuxSession, paneId, text);
        // An Enter sent at once after the text can be dropped by the agent.
        await sleep(this.def.submit.delayMs);
        await this.host.tmux.sendKeys(tmuxSession, paneId, this.def.submit.keys);
      } catch (e) {
        this.addError(`could not send the prompt: ${(e as Error).message}`);
      }
    })();
    await this.submission;
    this.submission = null;
    this.runner.handle({ kind: 'sent', ticket });
  }

  private async look(ticket: number, withScreen: boolean): Promise<void> {
    const children = descendants(this.pid).length;
    const screen = withScreen ? await this.screen().catch(() => '') : null;
    this.runner.handle({ kind: 'looked', ticket, children, screen });
  }

  /** Ends an old agent's processes (its window is closed), leaving the current agent's alone. */
  private endProcesses(tree: Tracked[]): Promise<void> {
    return endAgent(tree, this.host.sessionDir(this.id), this.ended ? null : this.pid);
  }

  /** The agent said its session ended: its death comes from tmux, or, if it does not, the session ends all the same. */
  private expectExit(): void {
    this.clearExitWatch();
    this.exitWatch = setTimeout(() => {
      this.exitWatch = null;
      if (processIdentity(this.pid) === null) void this.onDeath(null);
    }, EXIT_GRACE_MS);
    this.exitWatch.unref();
  }

  /**
   * The one end, whatever the cause: timers and the driver's watchers (and its files) go first,
   * then the window and every process of the agent: no process outlives its session, and no dead
   * window stays (tmux 3.3a can segfault when a control client attaches beside a dead pane whose
   * status it never learnt). A dead agent's last screen is in err already.
   */
  private async end(cause: EndCause, from: State, announce: boolean): Promise<void> {
    this.stopWatching();
    const { tmuxSession, windowId, pid } = this.place;
    // Recorded before the window goes: a process that ignores the hangup or left the terminal's
    // session (a daemon the agent started) is ended too.
    // (Only the tree of an agent that was running: an ended one's pid may be another process's.)
    const tree = announce ? treeOf(pid) : [];
    await this.host.tmux.killWindow(tmuxSession, windowId, this.id).catch(() => {});
    await this.endProcesses(tree);
    if (announce) {
      const to = this.state;
      this.host.emit({ id: this.id, kind: 'state', from, to });
      const failure = cause.kind === 'startTimeout' ? 'startup timed out' : cause.kind === 'restartFailed' ? 'restart failed' : null;
      this.host.emit(failure ? { id: this.id, kind: 'error', text: failure } : { id: this.id, kind: 'exit', status: cause.kind === 'died' ? cause.status : null });
    }
    // A kill removes; a session that ended by itself stays listed (a crash must be visible).
    if (cause.kind === 'killed') this.host.remove(this);
  }
}
