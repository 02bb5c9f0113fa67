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
import { configHome, loadPolicy, stateHome } from '../sandbox/policy.js';
import { probe } from '../sandbox/providers.js';
import { findOnPath } from '../sandbox/resolve.js';
import { wrap } from '../sandbox/sandbox.js';
import { Tmux } from '../tmux/tmux.js';
import { aliasProblem, isId, newId } from './ids.js';
import { Session, type SessionHost } from './session.js';
import { readRecords, writeRecords, type Place } from './store.js';
import type { SessionEvent, SessionInfo } from './types.js';

type Env = NodeJS.ProcessEnv;

export interface ManagerOptions {
  env?: Env;
  tmux?: Tmux;
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
  /** Ids and aliases of sessions being created. */
  private readonly reserved = new Set<string>();
  private readonly listeners = new Set<(e: SessionEvent) => void>();
  private readonly host: SessionHost;
  private readonly unlisten: () => void;

  constructor(options: ManagerOptions = {}) {
    this.env = options.env ?? process.env;
    this.tmux = options.tmux ?? Tmux.fromEnv(this.env);
    this.stateDir = path.join(stateHome(this.env), 'anvillm');
    this.host = {
      tmux: this.tmux,
      emit: (e) => this.emit(e),
      persist: () => this.persist(),
      aliasTaken: (alias, by) => this.reserved.has(alias) || [...this.sessions.values()].some((s) => s !== by && s.alias === alias),
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
    writeRecords(this.recordsFile, [...this.sessions.values()].map((s) => s.record()));
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

  /** Newest first. */
  list(): SessionInfo[] {
    return [...this.sessions.values()].map((s) => s.info()).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  }

  /** Starts an agent; resolves once it is starting. Every refusal says what to do. */
  async create(backendName: string, cwd: string, alias?: string): Promise<Session> {
    const defs = loadBackends(this.env);
    const def = defs.find((d) => d.name === backendName);
    if (!def) throw new Error(`no backend "${backendName}"; have: ${defs.map((d) => d.name).join(' ')}`);
    const dir = this.realDirectory(cwd);
    if (alias !== undefined) {
      const problem = aliasProblem(alias);
      if (problem) throw new Error(problem);
      if (this.get(alias) || this.reserved.has(alias)) throw new Error(`alias "${alias}" already exists: pick another`);
    }
    const agentPath = findOnPath(def.command[0]!, this.env);
    if (!agentPath) throw new Error(`${def.command[0]} is not installed: ${def.install}`);
    const id = newId((x) => this.sessions.has(x) || this.reserved.has(x));
    // Held until the session exists, so concurrent creates cannot take the same id or alias.
    const claims = [id, ...(alias !== undefined ? [alias] : [])];
    for (const c of claims) this.reserved.add(c);
    let win;
    let launch;
    let driver: Driver | null = null;
    const stateDir = this.sessionDir(id);
    try {
      fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      driver = this.driver(def, id, dir, {});
      launch = await this.launch(def, dir, stateDir, agentPath, driver);
      win = await this.tmux.newWindow({ session: `anvillm-${def.name}`, name: id, cwd: dir, argv: launch.argv, env: launch.env, size: def.size });
    } catch (e) {
      // A refused or failed start leaves nothing: its agent file, its state directory (a new id's,
      // so all ours), and the placeholder that made its tmux session.
      driver?.close();
      fs.rmSync(stateDir, { recursive: true, force: true });
      await this.tmux.dropPlaceholder(`anvillm-${def.name}`);
      throw e;
    } finally {
      for (const c of claims) this.reserved.delete(c);
    }
    const record = { alias: alias ?? null, tmuxSession: win.session, windowId: win.windowId, paneId: win.paneId, pid: win.pid };
    const session = new Session(this.host, def, id, dir, record, driver);
    for (const w of launch.warnings) session.addError(`sandbox: ${w}`);
    this.sessions.set(id, session);
    this.emit({ id, kind: 'new', backend: def.name, cwd: dir });
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
  private async launch(def: BackendDefinition, cwd: string, stateDir: string, agentPath: string, driver: Driver | null) {
    const tmuxSession = `anvillm-${def.name}`;
    const inherited = await this.tmux.inheritedEnv(tmuxSession);
    const extra = driver?.launch() ?? { args: [], env: {} };
    const env = { ...def.env, ...extra.env };
    const wrapped = wrap(
      loadPolicy(this.env),
      await probe(this.env),
      { cwd, stateDir, agentPath, env: { ...this.env, ...env }, passEnv: [...def.passEnv, ...Object.keys(env)] },
      { agentArgs: [...def.command.slice(1), ...extra.args], inherited },
    );
    if (wrapped.warnings.length > 0) for (const w of wrapped.warnings) process.stderr.write(`anvillm: sandbox: ${w}\n`);
    // tmux runs a one-word argv through sh -c: never give it one.
    const argv = wrapped.argv.length >= 2 ? wrapped.argv : [findOnPath('env', this.env) ?? '/usr/bin/env', ...wrapped.argv];
    return { argv, env: wrapped.env, warnings: wrapped.warnings };
  }

  /**
   * Starts a session's agent again, in a new window of the same name; the old window (if it is
   * still there) closes once the new one exists, so its tmux session never ends on the way (see
   * Tmux.killWindow for why no pane is respawned).
   */
  private async respawn(session: Session): Promise<Place> {
    const agentPath = findOnPath(session.def.command[0]!, this.env);
    if (!agentPath) throw new Error(`${session.def.command[0]} is not installed: ${session.def.install}`);
    const launch = await this.launch(session.def, session.cwd, this.sessionDir(session.id), agentPath, session.driver);
    const win = await this.tmux.newWindow({ session: `anvillm-${session.def.name}`, name: session.id, cwd: session.cwd, argv: launch.argv, env: launch.env, size: session.def.size });
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
    await Promise.all(this.live().map((s) => s.kill()));
  }
}
