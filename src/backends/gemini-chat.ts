/**
 * Gemini CLI's chat recording: `<.gemini>/tmp/<project>/chats/session-<time>-<first 8 of the
 * session id>.jsonl` (measured with 0.61.0). Its first line names the session; after it, each
 * line is a message `{id, type, content, toolCalls?}` — a message written again under the same
 * id replaces the earlier one (a model message gains its tool calls) — or `{"$set": {...}}`,
 * which replaces fields of the record. `messages` is the whole conversation, written again when
 * a session is resumed (with a second first line): then under new ids, with a model message's
 * tool calls as `functionCall` parts of its content. Turns are therefore matched by position.
 * Message types: `user` (a prompt as text parts; tool results as functionResponse parts),
 * `gemini` (the answer's text in `content`, its tool calls in `toolCalls`), `info` ("Request
 * cancelled." when the user interrupts: no hook says so), `error`.
 */
import fs from 'node:fs';
import path from 'node:path';

import { toolLine, type Turn } from './driver.js';
import { JsonlTail, holdsMessage } from './jsonl-tail.js';
import { readRegular } from './untrusted.js';

type Json = Record<string, unknown>;

const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const list = (v: unknown): Json[] => (Array.isArray(v) ? v.map(obj) : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The info message Gemini CLI records when the user interrupts a turn. */
const CANCELLED = /^Request cancelled\.?$/;

/** The chat recording of session `id` under `geminiDir`, or null. */
export function findChat(geminiDir: string, id: string): string | null {
  const tmp = path.join(geminiDir, 'tmp');
  let projects: string[];
  try {
    projects = fs.readdirSync(tmp);
  } catch {
    return null;
  }
  for (const p of projects) {
    const chats = path.join(tmp, p, 'chats');
    let names: string[];
    try {
      names = fs.readdirSync(chats).filter((n) => n.startsWith('session-') && n.endsWith(`-${id.slice(0, 8)}.jsonl`));
    } catch {
      continue;
    }
    for (const n of names) {
      const head = (readRegular(path.join(chats, n), 64 << 20) ?? '').split('\n', 1)[0] ?? '';
      if (head.includes(`"${id}"`)) return path.join(chats, n);
    }
  }
  return null;
}

/**
 * Whether Gemini CLI could resume the recording: it refuses one without a prompt or an answer (its
 * own context alone: what a session that never had a prompt leaves) with "No previous sessions
 * found for this project", exit status 42.
 */
export function holdsConversation(file: string): boolean {
  const isMessage = (m: Json) => m['type'] === 'gemini' || promptOf(m) !== null;
  return holdsMessage(file, (line) => isMessage(line) || list(obj(line['$set'])['messages']).some(isMessage));
}

/** A prompt the user typed: a user message of text parts, not Gemini CLI's own context. */
function promptOf(m: Json): string | null {
  if (m['type'] !== 'user') return null;
  const content = m['content'];
  if (typeof content === 'string') return content;
  const parts = list(content);
  if (parts.length === 0 || parts.some((p) => !('text' in p))) return null;
  const text = parts.map((p) => str(p['text'])).join('');
  return text.trimStart().startsWith('<session_context>') ? null : text;
}

/** A model message's parts: its text, then its tool calls (recorded, or as parts of a resumed list). */
function partsOf(m: Json): Turn['parts'] {
  const parts: Turn['parts'] = [];
  const content = list(m['content']);
  const text = typeof m['content'] === 'string' ? m['content'] : content.map((p) => str(p['text'])).join('');
  if (text.trim()) parts.push({ kind: 'text', text });
  const calls = Array.isArray(m['toolCalls']) ? list(m['toolCalls']) : content.filter((p) => p['functionCall']).map((p) => obj(p['functionCall']));
  for (const call of calls) parts.push({ kind: 'tool', text: toolLine(str(call['name']) || 'tool', obj(call['args'])) });
  return parts;
}

/**
 * Reads a chat recording as it grows. Turns handed out by `take()` keep growing (and are
 * corrected, when a message is rewritten) as later lines arrive.
 */
export class ChatReader {
  private readonly tail: JsonlTail;
  private messages: Json[] = [];
  /** The turns so far, in order: the objects handed out, updated in place. */
  private turns: Turn[] = [];
  private taken = 0;
  /** Set when an interrupt is read, until `cancelled()` reports it (or a `take()` or skip passes it: history, not news). */
  private interrupted = false;
  /** The last prompt has no answer yet, nor an interrupt or error after it. */
  private inTurn = false;

  constructor(file: string) {
    this.tail = new JsonlTail(file);
  }

  switchTo(file: string): void {
    if (!this.tail.switchTo(file)) return;
    this.messages = [];
    this.turns = [];
    this.taken = 0;
  }

  /** Reads on from the end: what is there now is known but never handed out. */
  skipToEnd(): void {
    this.read();
    this.taken = this.turns.length;
    this.interrupted = false;
  }

  /** Reads new lines; true when they recorded an interrupt. */
  cancelled(): boolean {
    this.read();
    const was = this.interrupted;
    this.interrupted = false;
    return was;
  }

  /** Whether Gemini CLI is in a turn, by its record (after a daemon restart). */
  busy(): boolean {
    this.read();
    return this.inTurn;
  }

  take(): Turn[] {
    this.read();
    this.interrupted = false;
    const fresh = this.turns.slice(this.taken);
    this.taken = this.turns.length;
    return fresh;
  }

  private read(): void {
    const lines = this.tail.read();
    if (lines.length === 0) return;
    for (const line of lines) {
      const set = obj(line['$set']);
      if (Array.isArray(set['messages'])) this.messages = list(set['messages']);
      if (typeof line['id'] !== 'string' || typeof line['type'] !== 'string') continue;
      const at = this.messages.findIndex((m) => m['id'] === line['id']);
      if (at >= 0) this.messages[at] = line;
      else this.messages.push(line);
      if (line['type'] === 'info' && CANCELLED.test(str(line['content']).trim())) this.interrupted = true;
    }
    this.rebuild();
  }

  /** Turns from the messages, matched by position with those known (a shorter list is a rewind). */
  private rebuild(): void {
    let n = 0;
    let answered = true;
    // An interrupt or error ends the turn, whatever is recorded after it (the cancelled call).
    let broken = false;
    for (const m of this.messages) {
      const prompt = promptOf(m);
      const turn = this.turns[n - 1];
      if (prompt !== null) {
        const known = this.turns[n];
        if (known) {
          known.prompt = prompt;
          known.parts.length = 0;
        } else this.turns.push({ prompt, parts: [] });
        n++;
        answered = broken = false;
      } else if (turn && m['type'] === 'gemini') {
        turn.parts.push(...partsOf(m));
        answered = turn.parts[turn.parts.length - 1]?.kind === 'text';
      } else if (m['type'] === 'error' || (m['type'] === 'info' && CANCELLED.test(str(m['content']).trim()))) {
        broken = true;
      }
    }
    // A `$set` of the messages may arrive in two steps (the context alone, then all): keep what
    // was known until the list holds as many turns again.
    if (n < this.turns.length && this.messages.length > 1) {
      this.turns.length = n;
      this.taken = Math.min(this.taken, n);
    }
    this.inTurn = !answered && !broken;
  }
}
