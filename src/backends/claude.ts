/**
 * Claude Code says exactly what it is doing, if we listen:
 * - hooks, from a settings FILE we write per session (inline JSON has been ignored by some
 *   versions): UserPromptSubmit → running (and the prompt was taken), PreToolUse/PostToolUse →
 *   running, Stop → idle, PermissionRequest and Notification permission_prompt|elicitation_dialog
 *   → waiting, SessionEnd → exiting;
 * - its status file `<config>/sessions/<pid>.json` (status idle | busy | waiting), the one
 *   witness of an interrupt, which fires no hook;
 * - its transcript `<config>/projects/<cwd>/<uuid>.jsonl`, with the uuid chosen by us
 *   (`--session-id`), for exact answers, Save and Load (`--resume`).
 * Everything the agent's side writes is a hint: paths are checked, times compared.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { homeDir } from '../sandbox/policy.js';
import { TranscriptReader, holdsConversation, projectDir, transcriptFile } from './claude-transcript.js';
import type { Driver, DriverContext, Hint, Turn } from './driver.js';
import { HookInbox, installHook, type HookReport } from './hook-inbox.js';
import { readSavedRecord, saveRecord } from './saved-record.js';
import { openRegular, writeOwnFile } from './untrusted.js';

const HOOK_EVENTS = ['SessionStart', 'UserPromptSubmit', 'PreToolUse', 'PostToolUse', 'Stop', 'Notification', 'PermissionRequest', 'SessionEnd'];
const WAITING_NOTICES = new Set(['permission_prompt', 'elicitation_dialog']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Where Claude Code keeps its records: $CLAUDE_CONFIG_DIR, else ~/.claude. */
export function claudeConfigDir(env: NodeJS.ProcessEnv): string {
  return env['CLAUDE_CONFIG_DIR'] || path.join(homeDir(env), '.claude');
}

/**
 * The state file a session's Claude Code writes (first-run answers, per-project trust, MCP
 * servers). Without $CLAUDE_CONFIG_DIR the user's own run keeps it in ~/.claude.json, which the
 * sandbox keeps read-only (src/sandbox/protected.ts): sessions run with CLAUDE_CONFIG_DIR set to
 * the same directory, so Claude Code keeps theirs in <config dir>/.claude.json, a file the user's
 * own run never reads, seeded once from ~/.claude.json. Transcripts, credentials and settings stay
 * shared. A user who sets $CLAUDE_CONFIG_DIR shares that directory's state file with the sessions.
 */
export function sessionStateFile(env: NodeJS.ProcessEnv): { file: string; seed: string | null } {
  const file = path.join(claudeConfigDir(env), '.claude.json');
  return { file, seed: env['CLAUDE_CONFIG_DIR'] ? null : path.join(homeDir(env), '.claude.json') };
}

export function claudeDriver(ctx: DriverContext): Driver {
  return new ClaudeDriver(ctx);
}

class ClaudeDriver implements Driver {
  private readonly configDir: string;
  private uuid: string;
  private readonly reader: TranscriptReader;
  private readonly settingsFile: string;
  private inbox: HookInbox | null = null;
  private unwatchStatus: (() => void) | null = null;
  private lastStatus = '';

  constructor(private readonly ctx: DriverContext) {
    this.configDir = claudeConfigDir(ctx.env);
    const saved = ctx.saved['uuid'];
    this.uuid = saved && UUID.test(saved) ? saved : randomUUID();
    // After a daemon restart the reader starts at the top: the session rebuilds its transcript.
    this.reader = new TranscriptReader(this.transcript);
    this.settingsFile = path.join(ctx.stateDir, 'claude-settings.json');
  }

  private get transcript(): string {
    return transcriptFile(this.configDir, this.ctx.cwd, this.uuid);
  }

  launch(): { args: string[]; env: Record<string, string> } {
    this.ensureRecords();
    const hook = installHook(this.ctx.stateDir);
    const hooks = Object.fromEntries(
      HOOK_EVENTS.map((event) => [event, [{ matcher: '', hooks: [{ type: 'command', command: hook(event), timeout: 10 }] }]]),
    );
    writeOwnFile(this.settingsFile, `${JSON.stringify({ hooks }, null, 2)}\n`, 0o600);
    const conversation = this.conversationArgs();
    // Without it Claude Code upgrades itself with a global npm install.
    const env: Record<string, string> = { DISABLE_AUTOUPDATER: '1', CLAUDE_CONFIG_DIR: this.configDir };
    // As root, Claude Code refuses --dangerously-skip-permissions unless told it is sandboxed (it is).
    if (process.getuid?.() === 0) env['IS_SANDBOX'] = '1';
    return { args: [...conversation, '--settings', this.settingsFile], env };
  }

  /**
   * An existing conversation is continued (restart, Load). A record without one (its Claude Code
   * killed before it wrote the first turn) cannot be resumed, nor its uuid taken again with
   * --session-id: a fresh conversation under a new uuid is the one start that works.
   */
  private conversationArgs(): string[] {
    if (holdsConversation(this.transcript)) return ['--resume', this.uuid];
    if (fs.existsSync(this.transcript)) {
      this.uuid = randomUUID();
      this.reader.switchTo(this.transcript);
    }
    return ['--session-id', this.uuid];
  }

  /**
   * The sandbox grants only paths that exist: without the config directory beforehand, Claude
   * Code would keep its transcript, status and first-run answers in a throwaway home. Its state
   * file is the session's own (sessionStateFile), seeded once from the user's.
   */
  private ensureRecords(): void {
    fs.mkdirSync(path.join(this.configDir, 'sessions'), { recursive: true, mode: 0o700 });
    const { file, seed } = sessionStateFile(this.ctx.env);
    let text = '{}\n';
    try {
      if (seed) text = fs.readFileSync(seed, 'utf8');
    } catch {
      // the user has none
    }
    try {
      fs.writeFileSync(file, text, { flag: 'wx', mode: 0o600 });
    } catch {
      // it exists: the sessions' own, kept
    }
  }

  listen(hint: (h: Hint) => void): void {
    this.inbox ??= new HookInbox(this.ctx.stateDir, (r) => this.onHook(r, hint));
    this.unwatchStatus ??= watchStatuses(path.join(this.configDir, 'sessions'), (status) => this.onStatus(status, hint));
  }

  private onHook(r: HookReport, hint: (h: Hint) => void): void {
    const at = r.at;
    switch (r.event) {
      case 'UserPromptSubmit':
        return hint({ kind: 'submitted', at });
      case 'PreToolUse':
      case 'PostToolUse':
        return hint({ kind: 'running', at });
      case 'Stop': {
        // Its transcript lags the hook by some 100 ms: the final message in hand, the turn ends now.
        const answer = r.payload['last_assistant_message'];
        return hint(typeof answer === 'string' ? { kind: 'idle', at, answer } : { kind: 'idle', at });
      }
      case 'PermissionRequest':
        return hint({ kind: 'waiting', at, why: 'permission' });
      case 'Notification': {
        const type = r.payload['notification_type'];
        if (typeof type === 'string' && WAITING_NOTICES.has(type)) hint({ kind: 'waiting', at, why: type });
        return;
      }
      case 'SessionStart': {
        // /clear starts a new conversation with a new uuid and file.
        const id = r.payload['session_id'];
        if (typeof id === 'string' && UUID.test(id) && id !== this.uuid) {
          this.uuid = id;
          this.reader.switchTo(this.transcript);
        }
        return;
      }
      case 'SessionEnd':
        if (r.payload['reason'] !== 'clear') hint({ kind: 'ended', at });
        return;
    }
  }

  private onStatus(status: StatusFile, hint: (h: Hint) => void): void {
    if (status.sessionId !== this.uuid || typeof status.status !== 'string') return;
    // Each change once (a quick busy → idle may be seen only as its idle).
    const stamp = `${status.status} ${String(status.statusUpdatedAt)}`;
    if (stamp === this.lastStatus) return;
    this.lastStatus = stamp;
    const at = typeof status.statusUpdatedAt === 'number' ? status.statusUpdatedAt : Date.now();
    const shown = status.writtenAt;
    if (status.status === 'busy') hint({ kind: 'running', at, shown });
    else if (status.status === 'idle') hint({ kind: 'idle', at, shown });
    else if (status.status === 'waiting') hint({ kind: 'waiting', at, shown, why: String(status.waitingFor ?? 'input') });
  }

  status(): 'idle' | 'running' | 'waiting' | null {
    const dir = path.join(this.configDir, 'sessions');
    let names: string[];
    try {
      names = fs.readdirSync(dir).filter((n) => n.endsWith('.json'));
    } catch {
      return null;
    }
    for (const name of names) {
      const status = readStatus(path.join(dir, name));
      if (status?.sessionId !== this.uuid) continue;
      this.lastStatus = `${String(status.status)} ${String(status.statusUpdatedAt)}`;
      return status.status === 'busy' ? 'running' : status.status === 'waiting' ? 'waiting' : status.status === 'idle' ? 'idle' : null;
    }
    return null;
  }

  takeTurns(): Turn[] {
    return this.reader.take();
  }

  record(): Record<string, string> {
    return { uuid: this.uuid };
  }

  save(file: string, rendered: string): string[] {
    return saveRecord(this.transcript, file, rendered);
  }

  load(file: string): void {
    // A copy under a new uuid, where Claude Code looks for it: the saved file stays as it was.
    const uuid = randomUUID();
    const lines = readSavedRecord(file, 'Claude Code').map((line) => {
      if (!line.trim()) return line;
      const entry = JSON.parse(line) as Record<string, unknown>;
      if ('sessionId' in entry) entry['sessionId'] = uuid;
      if ('cwd' in entry) entry['cwd'] = this.ctx.cwd;
      return JSON.stringify(entry);
    });
    fs.mkdirSync(projectDir(this.configDir, this.ctx.cwd), { recursive: true });
    this.uuid = uuid;
    writeOwnFile(this.transcript, lines.join('\n'), 0o600);
    this.reader.switchTo(this.transcript);
    this.reader.skipToEnd();
  }

  close(): void {
    this.inbox?.close();
    this.inbox = null;
    this.unwatchStatus?.();
    this.unwatchStatus = null;
  }
}

interface StatusFile {
  sessionId?: unknown;
  status?: unknown;
  statusUpdatedAt?: unknown;
  waitingFor?: unknown;
  /** The file's mtime (ours, not the agent's field). */
  writtenAt?: number;
}

/**
 * Every Claude session's status file lives in one directory: one watcher per directory reads
 * each change once and hands it to all its sessions (each keeps its own), not one read per session.
 */
const statusWatchers = new Map<string, { watcher: fs.FSWatcher; listeners: Set<(s: StatusFile) => void> }>();

function watchStatuses(dir: string, listener: (s: StatusFile) => void): () => void {
  let entry = statusWatchers.get(dir);
  if (!entry) {
    const listeners = new Set<(s: StatusFile) => void>();
    let watcher: fs.FSWatcher;
    try {
      watcher = fs.watch(dir, (_, name) => {
        if (!name || !name.endsWith('.json')) return;
        const status = readStatus(path.join(dir, name));
        if (status) for (const l of listeners) l(status);
      });
    } catch {
      return () => {}; // no status files: hooks alone (an interrupt is then seen only by the next hook)
    }
    watcher.on('error', () => {
      watcher.close();
      statusWatchers.delete(dir);
    });
    entry = { watcher, listeners };
    statusWatchers.set(dir, entry);
  }
  const { watcher, listeners } = entry;
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0 && statusWatchers.get(dir)?.watcher === watcher) {
      watcher.close();
      statusWatchers.delete(dir);
    }
  };
}

function readStatus(file: string): StatusFile | null {
  const f = openRegular(file);
  if (!f) return null;
  try {
    if (f.size > 64 * 1024) return null;
    const writtenAt = fs.fstatSync(f.fd).mtimeMs;
    return { ...(JSON.parse(fs.readFileSync(f.fd, 'utf8')) as StatusFile), writtenAt };
  } catch {
    return null; // being rewritten
  } finally {
    fs.closeSync(f.fd);
  }
}
