/**
 * Gemini CLI says what it does through hooks (measured with 0.61.0): BeforeAgent → running (the
 * prompt was taken), BeforeTool/AfterTool → running, Notification ToolPermission → waiting,
 * AfterAgent (with prompt_response) → idle, SessionStart (with the chat recording's path) and
 * SessionEnd → exiting. An interrupt fires no hook, but the chat recording says "Request
 * cancelled.", which the driver watches for. Answers, the transcript, Save and Load come from
 * the chat recording (gemini-chat.ts); the session id is chosen by us (--session-id) and
 * `--resume <id>` continues a conversation. The hooks reach Gemini CLI through a per-session
 * GEMINI_CLI_HOME (gemini-home.ts): the user's settings are never written.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import type { Driver, DriverContext, Hint, Turn } from './driver.js';
import { ChatReader, findChat, holdsConversation } from './gemini-chat.js';
import { geminiDir, sessionHome } from './gemini-home.js';
import { HookInbox, installHook, type HookReport } from './hook-inbox.js';
import { readSavedRecord, saveRecord } from './saved-record.js';
import { writeOwnFile } from './untrusted.js';

const HOOK_EVENTS = ['SessionStart', 'BeforeAgent', 'AfterAgent', 'BeforeTool', 'AfterTool', 'Notification', 'SessionEnd'];
/** Milliseconds; ours is a file write. */
const HOOK_TIMEOUT_MS = 5000;
const WAITING_NOTICES = new Set(['ToolPermission']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function geminiDriver(ctx: DriverContext): Driver {
  return new GeminiDriver(ctx);
}

class GeminiDriver implements Driver {
  private readonly dir: string;
  private session: string;
  private chat: string | null;
  private readonly reader: ChatReader;
  private inbox: HookInbox | null = null;
  private watcher: fs.FSWatcher | null = null;
  private hint: ((h: Hint) => void) | null = null;

  constructor(private readonly ctx: DriverContext) {
    this.dir = geminiDir(ctx.env);
    const saved = ctx.saved['session'];
    this.session = saved && UUID.test(saved) ? saved : randomUUID();
    this.chat = findChat(this.dir, this.session);
    // After a daemon restart the reader starts at the top: the session rebuilds its transcript.
    this.reader = new ChatReader(this.chat ?? '');
  }

  launch(): { args: string[]; env: Record<string, string> } {
    const hook = installHook(this.ctx.stateDir);
    const hooks = Object.fromEntries(
      HOOK_EVENTS.map((event) => [event, [{ matcher: '', hooks: [{ type: 'command', name: `anvillm-${event}`, command: hook(event), timeout: HOOK_TIMEOUT_MS }] }]]),
    );
    const home = sessionHome(this.ctx.env, path.join(this.ctx.stateDir, 'gemini-home'), hooks);
    this.chat ??= findChat(this.dir, this.session);
    // A conversation that exists is continued (restart, Load); a recording without one (no prompt
    // yet) cannot be resumed, nor its id taken again: a fresh one under a new id.
    if (this.chat && !holdsConversation(this.chat)) {
      this.session = randomUUID();
      this.chat = null;
    }
    const conversation = this.chat ? ['--resume', this.session] : ['--session-id', this.session];
    return { args: conversation, env: { GEMINI_CLI_HOME: home } };
  }

  listen(hint: (h: Hint) => void): void {
    this.hint = hint;
    this.inbox ??= new HookInbox(this.ctx.stateDir, (r) => this.onHook(r, hint));
    this.watchChat();
  }

  private onHook(r: HookReport, hint: (h: Hint) => void): void {
    const at = r.at;
    switch (r.event) {
      case 'SessionStart':
        return this.follow(r.payload);
      case 'BeforeAgent':
        this.chatFile(); // watched from the turn's start: an interrupt is only in the recording
        return hint({ kind: 'submitted', at });
      case 'BeforeTool':
      case 'AfterTool':
        return hint({ kind: 'running', at });
      case 'AfterAgent': {
        // The recording can lag the hook: the answer it names is what to wait for there.
        const answer = r.payload['prompt_response'];
        return hint(typeof answer === 'string' ? { kind: 'idle', at, answer } : { kind: 'idle', at });
      }
      case 'Notification': {
        const type = r.payload['notification_type'];
        if (typeof type === 'string' && WAITING_NOTICES.has(type)) hint({ kind: 'waiting', at, why: type });
        return;
      }
      case 'SessionEnd':
        if (r.payload['reason'] !== 'clear') hint({ kind: 'ended', at });
        return;
    }
  }

  /** SessionStart names the conversation (a new one after /clear): its recording is read from then on. */
  private follow(payload: Record<string, unknown>): void {
    const id = payload['session_id'];
    if (typeof id !== 'string' || !UUID.test(id) || (id === this.session && this.chat)) return;
    // The path it names is under our GEMINI_CLI_HOME's links: the recording is looked up in the user's.
    this.session = id;
    this.chat = null;
    this.chatFile();
  }

  /** An interrupt fires no hook: the recording's "Request cancelled." ends the turn. */
  private watchChat(): void {
    this.watcher?.close();
    this.watcher = null;
    if (!this.chat || !this.hint) return;
    const hint = this.hint;
    try {
      this.watcher = fs.watch(this.chat, () => {
        if (this.reader.cancelled()) hint({ kind: 'idle', at: Date.now() });
      });
      this.watcher.on('error', () => this.watcher?.close());
    } catch {
      // not there yet: SessionStart brings it
    }
  }

  /** After a daemon restart: in a turn or not, by the chat recording (a permission question is not recorded). */
  status(): 'idle' | 'running' | null {
    return this.chatFile() ? (this.reader.busy() ? 'running' : 'idle') : null;
  }

  takeTurns(): Turn[] {
    this.chatFile();
    return this.reader.take();
  }

  /** The recording, looked for if not known yet (Gemini CLI may create it after SessionStart). */
  private chatFile(): string | null {
    if (this.chat) return this.chat;
    this.chat = findChat(this.dir, this.session);
    if (this.chat) {
      this.reader.switchTo(this.chat);
      this.watchChat();
    }
    return this.chat;
  }

  record(): Record<string, string> {
    return { session: this.session };
  }

  save(file: string, rendered: string): string[] {
    const chat = this.chatFile();
    if (!chat) throw new Error('no conversation to save yet');
    return saveRecord(chat, file, rendered);
  }

  load(file: string): void {
    const lines = readSavedRecord(file, 'Gemini CLI');
    const head = JSON.parse(lines[0] || '{}') as { sessionId?: unknown; startTime?: unknown };
    const old = head.sessionId;
    if (typeof old !== 'string' || !UUID.test(old)) throw new Error(`${file}: no Gemini CLI session in it (its first line names none)`);
    // A copy under a new id, where `gemini --resume` finds it, named as Gemini CLI names it
    // (its start time, the id's first 8): the saved file stays as it was.
    const id = randomUUID();
    const dir = this.chatFile() ? path.dirname(this.chat!) : path.join(this.dir, 'tmp', path.basename(this.ctx.cwd), 'chats');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const start = typeof head.startTime === 'string' ? head.startTime : new Date().toISOString();
    const stamp = start.slice(0, 16).replace(/:/g, '-');
    this.chat = path.join(dir, `session-${stamp}-${id.slice(0, 8)}.jsonl`);
    this.session = id;
    writeOwnFile(this.chat, lines.join('\n').replaceAll(old, id), 0o600);
    this.reader.switchTo(this.chat);
    this.reader.skipToEnd();
  }

  close(): void {
    this.inbox?.close();
    this.inbox = null;
    this.watcher?.close();
    this.watcher = null;
  }
}
