/**
 * Claude Code's own record of a conversation: `<config>/projects/<cwd, every non-alphanumeric
 * character replaced by ->/<session uuid>.jsonl`, one JSON object per line. Prompts are `user`
 * lines; the answer arrives as `assistant` lines, one per content block (text, tool_use); tool
 * results come back as `user` lines holding `tool_result` blocks. An interrupted answer is kept
 * as a "<synthetic>" assistant line followed by "[Request interrupted by user]".
 */
import fs from 'node:fs';
import path from 'node:path';

import type { Turn } from './driver.js';
import { openRegular } from './untrusted.js';

/** Read at most this much per look (a long conversation is caught up with over a few). */
const MAX_READ = 16 << 20;

interface Line {
  type?: string;
  subtype?: string;
  content?: unknown;
  isSidechain?: boolean;
  isMeta?: boolean;
  message?: { role?: string; content?: string | Block[] };
}

interface Block {
  type?: string;
  text?: string;
  name?: string;
  input?: Record<string, unknown>;
}

export function projectDir(configDir: string, cwd: string): string {
  return path.join(configDir, 'projects', cwd.replace(/[^A-Za-z0-9]/g, '-'));
}

export function transcriptFile(configDir: string, cwd: string, uuid: string): string {
  return path.join(projectDir(configDir, cwd), `${uuid}.jsonl`);
}

const INTERRUPTED = /^\[Request interrupted by user[^\]]*\]$/;
/** A slash command as Claude Code records it; the caveats and reminders it adds are not prompts. */
const COMMAND = /^<command-name>(\/[^<]*)<\/command-name>[\s\S]*?(?:<command-args>([^<]*)<\/command-args>)?/;
const MARKUP = /^<(local-command-|command-|system-reminder)/;
const STDOUT = /<local-command-(?:stdout|stderr)>([\s\S]*?)<\/local-command-(?:stdout|stderr)>/g;

/** A prompt the user typed (not a tool result, a reminder, or an interrupt marker), or null. */
function promptOf(line: Line): string | null {
  if (line.type !== 'user' || line.isMeta || line.isSidechain) return null;
  const content = line.message?.content;
  if (typeof content === 'string') {
    const command = COMMAND.exec(content);
    if (command) return [command[1], command[2]?.trim()].filter(Boolean).join(' ');
    return INTERRUPTED.test(content) || MARKUP.test(content) ? null : content;
  }
  if (!Array.isArray(content) || content.some((b) => b.type === 'tool_result')) return null;
  const text = content.filter((b) => b.type === 'text').map((b) => b.text ?? '').join('\n');
  return text === '' || INTERRUPTED.test(text) ? null : text;
}

/** How a tool call reads in the transcript: the one argument that says what it did. */
function toolLine(b: Block): string {
  const input = b.input ?? {};
  const main = ['command', 'file_path', 'path', 'pattern', 'url', 'query', 'description', 'prompt']
    .map((k) => input[k])
    .find((v) => typeof v === 'string');
  const arg = typeof main === 'string' ? main : JSON.stringify(input);
  return `${b.name ?? 'tool'}: ${arg.replace(/\s*\n\s*/g, ' ')}`;
}

/**
 * Reads a transcript as it grows: each `read()` parses the lines appended since the last one
 * and returns the turns completed or extended so far.
 */
export class TranscriptReader {
  private offset = 0;
  /** The bytes of a line not yet complete (it may end inside a character). */
  private partial = Buffer.alloc(0);
  private turns: Turn[] = [];
  /** The newest turn, taken or not: its answer may still be arriving. */
  private open: Turn | undefined;

  constructor(public file: string) {}

  /** Starts over on another file (after Load or /clear). */
  switchTo(file: string): void {
    if (file === this.file) return;
    this.file = file;
    this.offset = 0;
    this.partial = Buffer.alloc(0);
    this.open = undefined;
  }

  /** Forgets what was read, but not where: the next read starts at the current end. */
  skipToEnd(): void {
    try {
      this.offset = fs.statSync(this.file).size;
    } catch {
      this.offset = 0;
    }
    this.partial = Buffer.alloc(0);
    this.open = undefined;
  }

  /** Turns that began since the last `take()` (the last may still grow). */
  take(): Turn[] {
    this.read();
    const done = this.turns;
    this.turns = [];
    return done;
  }

  /** Never throws: the file is in a directory the agent can write (a link, a FIFO, a directory there is skipped). */
  private read(): void {
    const f = openRegular(this.file);
    if (!f) return;
    const fd = f.fd;
    try {
      const size = f.size;
      if (size < this.offset) this.offset = 0; // replaced
      if (size === this.offset) return;
      const buf = Buffer.alloc(Math.min(size - this.offset, MAX_READ));
      const n = fs.readSync(fd, buf, 0, buf.length, this.offset);
      this.offset += n;
      const bytes = Buffer.concat([this.partial, buf.subarray(0, n)]);
      const end = bytes.lastIndexOf(0x0a) + 1;
      this.partial = bytes.subarray(end);
      const lines = bytes.subarray(0, end).toString('utf8').split('\n');
      for (const l of lines) this.add(l);
    } catch {
      // unreadable now: the next read tries again
    } finally {
      fs.closeSync(fd);
    }
  }

  private add(raw: string): void {
    let line: Line;
    try {
      line = JSON.parse(raw) as Line;
    } catch {
      return;
    }
    const prompt = promptOf(line);
    if (prompt !== null) {
      this.open = { prompt, parts: [] };
      this.turns.push(this.open);
      return;
    }
    // What a slash command printed.
    if (line.type === 'system' && line.subtype === 'local_command' && typeof line.content === 'string' && this.open) {
      const text = [...line.content.matchAll(STDOUT)].map((m) => m[1]!.replace(/\x1b\[[0-9;]*m/g, '')).join('\n').trim();
      if (text) this.open.parts.push({ kind: 'text', text });
      return;
    }
    if (line.type !== 'assistant' || line.isSidechain) return;
    const turn = this.open;
    const content = line.message?.content;
    if (!turn || !Array.isArray(content)) return;
    for (const b of content) {
      if (b.type === 'text' && b.text) turn.parts.push({ kind: 'text', text: b.text });
      else if (b.type === 'tool_use') turn.parts.push({ kind: 'tool', text: toolLine(b) });
    }
  }
}
