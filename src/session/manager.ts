/**
 * The session manager: creates sessions through the sandbox into tmux, routes tmux's news to them,
 * keeps sessions.json, and re-adopts the windows a previous daemon left running.
 */
import fs from 'node:fs';
import path from 'node:path';

import { loadBackends } from '../backends/config.js';
import type { BackendDefinition } from '../backends/definition.js';
import type { Driver } from '../backends/driver.js';
import { DRIVERS } from '../backends/drivers.js';
import { SandboxCache } from '../sandbox/cache.js';
import { configHome, stateHome } from '../sandbox/policy.js';
import { findOnPath } from '../sandbox/resolve.js';
import { SandboxRefused, wrap } from '../sandbox/sandbox.js';
import { ExplainedError, aliasTakenError } from '../protocol/protocol.js';
import { Tmux } from '../tmux/tmux.js';
import { worktreeGrants } from '../worktree/grants.js';
import { createWorktree, discardWorktree, releaseWorktree, type WorktreeRecord } from '../worktree/worktree.js';
import { aliasProblem, isId, newId } from './ids.js';
import { Session, type SessionHost } from './session.js';
import { readRecords, writeRecords, type Place } from './store.js';
import type { SessionEvent, SessionInfo } from './types.js';

type Env = NodeJS.ProcessEnv;

export interface ManagerOptions {
  env?: Env;
  tmux?: Tmux;
}

/** A session in a new worktree of its directory's repository, on `branch` (default anvillm/<alias or id>). */
export interface WorktreeRequest {
  branch?: string;
}

export interface BackendListing {
  name: string;
  label: string;
  available: boolean;
  command: string;
}

export class SessionManager {
  readonly env: Env;
  readonly tmux: Tmux;
  /** $XDG_STATE_HOME/anvillm */
  readonly stateDir: string;
  private readonly sessions = new Map<string, Session>();
  /** The worktree of each worktree session (src/worktree). */
  private readonly worktrees = new Map<string, WorktreeRecord>();
  /** Ids and aliases of sessions being created. */
  private readonly reserved = new Set<string>();
  private readonly listeners = new Set<(e: SessionEvent) => void>();
  private readonly host: SessionHost;
  private readonly unlisten: () => void;
  /** The policy (re-read when sandbox.yaml changes) and the providers' probe, kept between sessions. */
  private readonly sandbox: SandboxCache;

  constructor(options: ManagerOptions = {}) {
    this.env = options.env ?? process.env;
    this.tmux = options.tmux ?? Tmux.fromEnv(this.env);
    this.stateDir = path.join(stateHome(this.env), 'anvillm');
    this.sandbox = new SandboxCache(this.env);
    // The first `new` need not wait for the probe.
    void this.sandbox.probe().catch(() => {});
    this.host = {
      tmux: this.tmux,
      emit: (e) => this.emit(e),
      persist: () => this.persist(),
      aliasTaken: (alias, by) => this.aliasTaken(alias, by),
      respawn: (s) => this.respawn(s),
      remove: (s) => this.remove(s),
      transcriptsDir: path.join(configHome(this.env), 'anvillm', 'transcripts'),
      sessionDir: (id) => this.sessionDir(id),
    };
    this.unlisten = this.tmux.listen({
      output: (pane, data) => this.byPane(pane)?.onOutput(data),
      paneDied: (pane, windowId, status) => {
        const s = this.byPane(pane);
        if (s && s.windowId === windowId) void s.onDeath(status);
      },
      windowClosed: (windowId) => this.live().find((s) => s.windowId === windowId)?.onGone(),
      sessionEnded: (tmuxSession) => void this.checkWindows(tmuxSession),
    });
  }

  private get recordsFile(): string {
    return path.join(this.stateDir, 'sessions.json');
  }

  private live(): Session[] {
    return [...this.sessions.values()].filter((s) => !s.ended);
  }

  private byPane(pane: string): Session | undefined {
    return this.live().find((s) => s.paneId === pane);
  }

  private emit(e: SessionEvent): void {
    if (e.kind === 'exit' || e.kind === 'state') this.persist();
    for (const l of this.listeners) l(e);
  }

  /** Every listed session: those that ended by themselves too, so that a restart can bring them back. */
  private persist(): void {
    writeRecords(this.recordsFile, [...this.sessions.values()].map((s) => ({ ...s.record(), ...(this.worktrees.has(s.id) ? { worktree: this.worktrees.get(s.id) } : {}) })));
  }

  subscribe(listener: (e: SessionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Every backend, and whether its program is installed. Re-reads backends.yaml. */
  backends(): BackendListing[] {
    return loadBackends(this.env).map((d) => ({
      name: d.name,
      label: d.label,
      available: findOnPath(d.command[0]!, this.env) !== null,
      command: d.command.join(' '),
    }));
  }

  get(idOrAlias: string): Session | undefined {
    if (isId(idOrAlias)) return this.sessions.get(idOrAlias);
    return [...this.sessions.values()].find((s) => s.alias === idOrAlias);
  }

  /** Why `by` (or a new session) cannot take `alias`, or null when it can. */
  aliasRefusal(alias: string, by?: Session): string | null {
    return aliasProblem(alias) ?? (this.aliasTaken(alias, by) ? aliasTakenError(alias) : null);
  }

  private aliasTaken(alias: string, by?: Session): boolean {
    return this.reserved.has(alias) || [...this.sessions.values()].some((s) => s !== by && s.alias === alias);
  }

  /** Newest first. */
  list(): SessionInfo[] {
    return [...this.sessions.values()].map((s) => s.info()).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  }

  /** The worktree a session works in, if it is a worktree session. */
  worktree(id: string): WorktreeRecord | undefined {
    return this.worktrees.get(id);
  }

  /**
   * Ends a session; a worktree session's branch stays, and its worktree while removing it would
   * lose work. Resolves with what was kept, and where (worktree sessions only).
   */
  async kill(s: Session): Promise<string | undefined> {
    await s.kill();
    const wt = this.worktrees.get(s.id);
    if (!wt) return undefined;
    const kept = await releaseWorktree(this.env, wt);
    this.worktrees.delete(s.id);
    s.addError(`worktree: ${kept}`);
    process.stderr.write(`anvillm: ${s.id}: ${kept}\n`); // the daemon log says it too
    return kept;
  }

  /** Starts an agent; resolves once it is starting. Every refusal says what to do. */
  async create(backendName: string, cwd: string, alias?: string, worktree?: WorktreeRequest): Promise<Session> {
    const defs = loadBackends(this.env);
    const def = defs.find((d) => d.name === backendName);
    if (!def) throw new Error(`no backend "${backendName}"; have: ${defs.map((d) => d.name).join(' ')}`);
    const dir = this.realDirectory(cwd);
    const problem = alias === undefined ? null : this.aliasRefusal(alias);
    if (problem) throw new Error(problem);
    const agentPath = findOnPath(def.command[0]!, this.env);
    if (!agentPath) throw new Error(`${def.command[0]} is not installed: ${def.install}`);
    const id = newId((x) => this.sessions.has(x) || this.reserved.has(x));
    // Held until the session exists, so concurrent creates cannot take the same id or alias.
    const claims = [id, ...(alias !== undefined ? [alias] : [])];
    for (const c of claims) this.reserved.add(c);
    let win;
    let launch;
    let driver: Driver | null = null;
    let wt: WorktreeRecord | undefined;
    let sessionCwd = dir;
    const stateDir = this.sessionDir(id);
    try {
      if (worktree) ({ record: wt, cwd: sessionCwd } = await createWorktree(this.env, dir, id, worktree.branch ?? `anvillm/${alias ?? id}`));
      fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      driver = this.driver(def, id, sessionCwd, {});
      launch = await this.launch(def, sessionCwd, stateDir, agentPath, driver, wt);
      win = await this.tmux.newWindow({ session: `anvillm-${def.name}`, name: id, cwd: launch.cwd, argv: launch.argv, env: launch.env, size: def.size });
    } catch (e) {
      // A refused or failed start leaves nothing: its agent file, its state directory (a new id's,
      // so all ours), and the placeholder that made its tmux session.
      driver?.close();
      fs.rmSync(stateDir, { recursive: true, force: true });
      await this.tmux.dropPlaceholder(`anvillm-${def.name}`);
      if (wt) await discardWorktree(this.env, wt);
      throw e;
    } finally {
      for (const c of claims) this.reserved.delete(c);
    }
    const record = { alias: alias ?? null, tmuxSession: win.session, windowId: win.windowId, paneId: win.paneId, pid: win.pid };
    const session = new Session(this.host, def, id, sessionCwd, record, driver);
    for (const w of launch.warnings) session.addError(`sandbox: ${w}`);
    this.sessions.set(id, session);
    if (wt) this.worktrees.set(id, wt);
    this.emit({ id, kind: 'new', backend: def.name, cwd: sessionCwd });
    this.persist();
    return session;
  }

  private realDirectory(cwd: string): string {
    const abs = path.resolve(cwd);
    let real: string;
    try {
      real = fs.realpathSync(abs);
    } catch {
      throw new Error(`${abs} does not exist: give an existing directory`);
    }
    if (!fs.statSync(real).isDirectory()) throw new Error(`${abs} is not a directory: give a directory`);
    return real;
  }

  private sessionDir(id: string): string {
    return path.join(this.stateDir, 'sessions', id);
  }

  private driver(def: BackendDefinition, id: string, cwd: string, saved: Record<string, string>): Driver | null {
    // `state: {method: quiet}` reads even a backend with a driver from its screen.
    const factory = def.driver && def.state.method === 'hooks' ? DRIVERS[def.driver] : undefined;
    return factory ? factory({ id, cwd, stateDir: this.sessionDir(id), env: { ...this.env, ...def.env }, saved, args: def.command.slice(1) }) : null;
  }

  /** The argv and environment of the agent inside the sandbox, with the policy read afresh. */
  private async launch(def: BackendDefinition, cwd: string, stateDir: string, agentPath: string, driver: Driver | null, worktree?: WorktreeRecord) {
    const tmuxSession = `anvillm-${def.name}`;
    const inherited = await this.tmux.inheritedEnv(tmuxSession);
    const extra = driver?.launch() ?? { args: [], env: {} };
    const env = { ...def.env, ...extra.env };
    const wrapped = await explainRefusal(def.name, async () => wrap(
      this.sandbox.policy(),
      await this.sandbox.probe(),
      { cwd, stateDir, agentPath, env: { ...this.env, ...env }, userEnv: this.env, passEnv: [...def.passEnv, ...Object.keys(env)], ...(worktree ? { extra: worktreeGrants(this.env, worktree) } : {}) },
      { agentArgs: [...def.command.slice(1), ...extra.args], inherited },
    ));
    if (wrapped.warnings.length > 0) for (const w of wrapped.warnings) process.stderr.write(`anvillm: sandbox: ${w}\n`);
    // tmux runs a one-word argv through sh -c: never give it one.
    const argv = wrapped.argv.length >= 2 ? wrapped.argv : [findOnPath('env', this.env) ?? '/usr/bin/env', ...wrapped.argv];
    return { argv, cwd: wrapped.cwd, env: wrapped.env, warnings: wrapped.warnings };
  }

  /**
   * Starts a session's agent again, in a new window of the same name; the old window (if it is
   * still there) closes once the new one exists, so its tmux session never ends on the way (see
   * Tmux.killWindow for why no pane is respawned).
   */
  private async respawn(session: Session): Promise<Place> {
    const agentPath = findOnPath(session.def.command[0]!, this.env);
    if (!agentPath) throw new Error(`${session.def.command[0]} is not installed: ${session.def.install}`);
    const launch = await this.launch(session.def, session.cwd, this.sessionDir(session.id), agentPath, session.driver, this.worktrees.get(session.id));
    const win = await this.tmux.newWindow({ session: `anvillm-${session.def.name}`, name: session.id, cwd: launch.cwd, argv: launch.argv, env: launch.env, size: session.def.size });
    // (A tmux server started again, after a reboot, may have given the new window the old id.)
    if (win.windowId !== session.windowId) await this.tmux.killWindow(session.tmuxSession, session.windowId, session.id).catch(() => {});
    return { tmuxSession: win.session, windowId: win.windowId, paneId: win.paneId, pid: win.pid };
  }

  /** After a tmux session ended or a window closed: sessions whose window is gone end. */
  private async checkWindows(tmuxSession: string): Promise<void> {
    const windows = await this.tmux.listWindows('anvillm-');
    for (const s of this.live()) {
      if (s.tmuxSession === tmuxSession && !windows.some((w) => w.windowId === s.windowId && w.name === s.id)) s.onGone();
    }
  }

  /**
   * Re-adopts the sessions a previous daemon recorded: those whose windows are still alive run on;
   * those whose window is gone (a reboot, the tmux server ended, a crash) are listed as exited,
   * so `restart` brings them back in their directory, with their conversation where the driver
   * can resume it (its record). A record whose backend is gone is dropped, with an exit event.
   */
  async adopt(): Promise<void> {
    const records = readRecords(this.recordsFile);
    const windows = await this.tmux.listWindows('anvillm-');
    // Dead windows go before any control client attaches: tmux 3.3a can segfault attaching beside
    // a dead pane (see Session.onDeath), which would end every session on the server.
    for (const w of windows) if (w.dead) await this.tmux.killWindowDirectly(w.windowId).catch(() => {});
    await this.tmux.dropPlaceholders('anvillm-');
    const defs = loadBackends(this.env);
    for (const rec of records) {
      const win = windows.find((w) => w.session === rec.tmuxSession && w.name === rec.id && w.windowId === rec.windowId);
      const def = defs.find((d) => d.name === rec.backend);
      if (!def || this.sessions.has(rec.id)) {
        this.emit({ id: rec.id, kind: 'exit', status: win?.deadStatus ?? null });
        continue;
      }
      const driver = this.driver(def, rec.id, rec.cwd, rec.driver ?? {});
      if (rec.worktree) this.worktrees.set(rec.id, rec.worktree);
      if (!win || win.dead) {
        // What its driver left for the agent (Kiro's agent file) goes until a restart; its pid
        // may be another process's by now.
        driver?.close();
        this.sessions.set(rec.id, new Session(this.host, def, rec.id, rec.cwd, { ...rec, pid: 0 }, driver, 'exited'));
        continue;
      }
      const session = new Session(this.host, def, rec.id, rec.cwd, { ...rec, paneId: win.paneId, pid: win.pid }, driver);
      this.sessions.set(rec.id, session);
      session.adopt(); // before any await: its startup check must not run first
      await this.tmux.watch(win.session);
    }
    this.persist();
  }

  private remove(session: Session): void {
    if (this.sessions.get(session.id) !== session) return;
    this.sessions.delete(session.id);
    this.persist();
    this.emit({ id: session.id, kind: 'gone' });
  }

  /** Detaches from tmux; the agents keep running there. */
  async close(): Promise<void> {
    for (const s of this.sessions.values()) s.detach();
    this.unlisten();
    await this.tmux.close();
  }

  /** Ends every agent (daemon stop --kill-sessions). */
  async killAll(): Promise<void> {
    await Promise.all(this.live().map((s) => this.kill(s)));
  }
}

/** A refused sandbox as a Rerror says it (the refusal's whole text stays in the detail). */
async function explainRefusal<T>(backend: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (!(e instanceof SandboxRefused)) throw e;
    throw new ExplainedError(`no sandbox for ${backend}: ${e.fix}; see anvillm sandbox check`, e.message);
  }
}
