/**
 * Codex CLI says what it does through lifecycle hooks (measured with 0.169.0):
 * UserPromptSubmit → running (the prompt was taken), PreToolUse/PostToolUse → running,
 * PermissionRequest → waiting, Stop (with last_assistant_message) → idle, Interrupt (Esc) → idle,
 * SessionStart (at the first prompt, with the session id and its rollout's path), SessionEnd →
 * exiting. Answers, the transcript, Save and Load come from its rollout (codex-rollout.ts);
 * `codex resume <id>` continues a conversation.
 *
 * The hooks are given per session as `-c` overrides (Codex's "session flags" layer): the user's
 * config.toml and hooks.json are never touched and their hooks keep running beside ours. Codex
 * runs a hook only once it is trusted; trust is a hash of the hook's definition, kept in
 * `hooks.state`, which the same overrides supply for ours alone. Hooks of the user's that Codex
 * asks about are left untrusted (the startup dialog is answered "continue without trusting").
 * The `notify` program is not used: it is one program, and setting it would replace the user's.
 */
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { homeDir } from '../sandbox/policy.js';
import { RolloutReader, findRollout, isRolloutOf } from './codex-rollout.js';
import type { Driver, DriverContext, Hint, Turn } from './driver.js';
import { HookInbox, installHook, type HookReport } from './hook-inbox.js';
import { readSavedRecord, saveRecord } from './saved-record.js';
import { writeOwnFile } from './untrusted.js';

const HOOK_EVENTS = ['SessionStart', 'UserPromptSubmit', 'PreToolUse', 'PostToolUse', 'PermissionRequest', 'Stop', 'Interrupt', 'SessionEnd'];
/** Seconds. Codex clamps SessionEnd's to 3; ours is a file write. Part of the trusted hash. */
const HOOK_TIMEOUT_S = 3;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Where Codex keeps its records: $CODEX_HOME, else ~/.codex. */
export function codexHome(env: NodeJS.ProcessEnv): string {
  return env['CODEX_HOME'] || path.join(homeDir(env), '.codex');
}

/** SessionStart → session_start: how Codex names events in trust keys and hashes. */
const snake = (event: string) => event.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();

/**
 * The `-c` overrides that install one command hook per event and trust exactly those: Codex keys
 * a hook given this way "/<session-flags>/config.toml:<event>:<group>:<handler>" and trusts it
 * when `trusted_hash` is the sha256 of the compact, key-sorted JSON of its normalized definition.
 */
function codexHookOverrides(command: (event: string) => string): string[] {
  const args: string[] = [];
  const trust: string[] = [];
  for (const event of HOOK_EVENTS) {
    const cmd = command(event);
    args.push('-c', `hooks.${event}=[{hooks=[{type="command",command=${JSON.stringify(cmd)},timeout=${HOOK_TIMEOUT_S}}]}]`);
    const identity = { event_name: snake(event), hooks: [{ async: false, command: cmd, timeout: HOOK_TIMEOUT_S, type: 'command' }] };
    const hash = `sha256:${createHash('sha256').update(JSON.stringify(identity)).digest('hex')}`;
    trust.push(`${JSON.stringify(`/<session-flags>/config.toml:${snake(event)}:0:0`)}={trusted_hash=${JSON.stringify(hash)}}`);
  }
  return [...args, '-c', `hooks.state={${trust.join(',')}}`];
}

export function codexDriver(ctx: DriverContext): Driver {
  return new CodexDriver(ctx);
}

class CodexDriver implements Driver {
  private readonly sessionsDir: string;
  /** Codex's session id: known from its first SessionStart (it chooses it), or a Load. */
  private session: string | null;
  private rollout: string | null;
  private readonly reader: RolloutReader;
  private inbox: HookInbox | null = null;

  constructor(private readonly ctx: DriverContext) {
    this.sessionsDir = path.join(codexHome(ctx.env), 'sessions');
    const saved = ctx.saved['session'];
    this.session = saved && UUID.test(saved) ? saved : null;
    this.rollout = null;
    // After a daemon restart the reader starts at the top: the session rebuilds its transcript.
    this.reader = new RolloutReader('');
    this.rolloutFile();
  }

  launch(): { args: string[]; env: Record<string, string> } {
    // The sandbox grants only paths that exist: the rollouts must land in the user's records.
    fs.mkdirSync(this.sessionsDir, { recursive: true, mode: 0o700 });
    const hooks = codexHookOverrides(installHook(this.ctx.stateDir));
    // A conversation that exists is continued (restart, Load).
    const rollout = this.rolloutFile();
    const resume = this.session && rollout && fs.existsSync(rollout) ? ['resume', this.session] : [];
    return { args: [...resume, ...hooks], env: {} };
  }

  listen(hint: (h: Hint) => void): void {
    this.inbox ??= new HookInbox(this.ctx.stateDir, (r) => this.onHook(r, hint));
  }

  private onHook(r: HookReport, hint: (h: Hint) => void): void {
    const at = r.at;
    switch (r.event) {
      case 'SessionStart':
        return this.follow(r.payload);
      case 'UserPromptSubmit':
        return hint({ kind: 'submitted', at });
      case 'PreToolUse':
      case 'PostToolUse':
        return hint({ kind: 'running', at });
      case 'PermissionRequest':
        return hint({ kind: 'waiting', at, why: 'permission' });
      case 'Stop': {
        // The rollout can lag the hook: the answer it names is what to wait for there.
        const answer = r.payload['last_assistant_message'];
        return hint(typeof answer === 'string' ? { kind: 'idle', at, answer } : { kind: 'idle', at });
      }
      case 'Interrupt':
        return hint({ kind: 'idle', at });
      case 'SessionEnd':
        return hint({ kind: 'ended', at });
    }
  }

  /** SessionStart names the conversation (a new one after /new or /clear): its rollout is read from then on. */
  private follow(payload: Record<string, unknown>): void {
    const id = payload['session_id'];
    if (typeof id !== 'string' || !UUID.test(id) || (id === this.session && this.rollout)) return;
    const named = payload['transcript_path'];
    this.session = id;
    this.rollout = typeof named === 'string' && isRolloutOf(named, this.sessionsDir, id) ? path.resolve(named) : null;
    this.rolloutFile();
  }

  /** The rollout, looked for if not known yet; the reader follows it. */
  private rolloutFile(): string | null {
    this.rollout ??= this.session ? findRollout(this.sessionsDir, this.session) : null;
    if (this.rollout) this.reader.switchTo(this.rollout);
    return this.rollout;
  }

  /** After a daemon restart: in a turn or not, by the rollout (a permission question is not recorded). */
  status(): 'idle' | 'running' | null {
    return this.rolloutFile() ? (this.reader.busy() ? 'running' : 'idle') : null;
  }

  takeTurns(): Turn[] {
    this.rolloutFile();
    return this.reader.take();
  }

  record(): Record<string, string> {
    return this.session ? { session: this.session } : {};
  }

  save(file: string, rendered: string): string[] {
    const rollout = this.rolloutFile();
    if (!rollout) throw new Error('no conversation to save yet (codex records one from the first prompt on)');
    return saveRecord(rollout, file, rendered);
  }

  load(file: string): void {
    const lines = readSavedRecord(file, 'Codex');
    const meta = lines.find((l) => l.includes('"session_meta"'));
    const old = meta ? (JSON.parse(meta) as { payload?: { id?: unknown } }).payload?.id : undefined;
    if (typeof old !== 'string' || !UUID.test(old)) throw new Error(`${file}: no Codex session in it (no session_meta line)`);
    // A copy under a new id, where `codex resume` finds it: the saved file stays as it was.
    const id = randomUUID();
    const now = new Date();
    const day = path.join(this.sessionsDir, String(now.getUTCFullYear()), String(now.getUTCMonth() + 1).padStart(2, '0'), String(now.getUTCDate()).padStart(2, '0'));
    fs.mkdirSync(day, { recursive: true, mode: 0o700 });
    const stamp = now.toISOString().slice(0, 19).replace(/:/g, '-');
    this.rollout = path.join(day, `rollout-${stamp}-${id}.jsonl`);
    this.session = id;
    writeOwnFile(this.rollout, lines.join('\n').replaceAll(old, id), 0o600);
    this.reader.switchTo(this.rollout);
    this.reader.skipToEnd();
  }

  close(): void {
    this.inbox?.close();
    this.inbox = null;
  }
}
