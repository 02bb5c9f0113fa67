/**
 * An agent's own record as it grows: a JSON Lines file the agent appends to (Claude Code's
 * transcript, Codex's rollout, Gemini CLI's chat recording). Each `read()` returns the lines
 * completed since the last one. The file is in a directory the sandboxed agent can write: a link,
 * FIFO or directory at its name is skipped, and nothing here throws.
 */
import fs from 'node:fs';

import type { Turn } from './driver.js';
import { openRegular } from './untrusted.js';

/** Read at most this much per look (a long conversation is caught up with over a few). */
const MAX_READ = 16 << 20;

/** Beyond this size a record surely holds a conversation: its heading lines alone are small. */
const SURELY_A_CONVERSATION = 256 * 1024;

/**
 * Whether the record holds a line `isMessage` takes for part of a conversation (what the agent
 * needs to resume it); a large record is taken to without a look.
 */
export function holdsMessage(file: string, isMessage: (line: Record<string, unknown>) => boolean): boolean {
  const f = openRegular(file);
  if (!f) return false;
  try {
    if (f.size > SURELY_A_CONVERSATION) return true;
    return fs.readFileSync(f.fd, 'utf8').split('\n').some((text) => {
      try {
        const line: unknown = JSON.parse(text);
        return !!line && typeof line === 'object' && isMessage(line as Record<string, unknown>);
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  } finally {
    fs.closeSync(f.fd);
  }
}

export class JsonlTail {
  private offset = 0;
  /** The bytes of a line not yet complete (it may end inside a character). */
  private partial = Buffer.alloc(0);

  constructor(public file: string) {}

  /** Starts over on another file (after Load or /clear); true when it is another. */
  switchTo(file: string): boolean {
    if (file === this.file) return false;
    this.file = file;
    this.offset = 0;
    this.partial = Buffer.alloc(0);
    return true;
  }

  /** Forgets what was read, but not where: the next read starts at the current end. */
  skipToEnd(): void {
    try {
      this.offset = fs.statSync(this.file).size;
    } catch {
      this.offset = 0;
    }
    this.partial = Buffer.alloc(0);
  }

  /** The lines completed since the last read, parsed (lines that are not JSON objects are left out). */
  read(): Record<string, unknown>[] {
    const f = openRegular(this.file);
    if (!f) return [];
    const out: Record<string, unknown>[] = [];
    try {
      if (f.size < this.offset) this.offset = 0; // replaced
      if (f.size === this.offset) return out;
      const buf = Buffer.alloc(Math.min(f.size - this.offset, MAX_READ));
      const n = fs.readSync(f.fd, buf, 0, buf.length, this.offset);
      this.offset += n;
      const bytes = Buffer.concat([this.partial, buf.subarray(0, n)]);
      const end = bytes.lastIndexOf(0x0a) + 1;
      this.partial = bytes.subarray(end);
      for (const raw of bytes.subarray(0, end).toString('utf8').split('\n')) {
        try {
          const line: unknown = JSON.parse(raw);
          if (line && typeof line === 'object' && !Array.isArray(line)) out.push(line as Record<string, unknown>);
        } catch {
          // an empty or torn line
        }
      }
    } catch {
      // unreadable now: the next read tries again
    } finally {
      fs.closeSync(f.fd);
    }
    return out;
  }
}

/**
 * Turns from a record the agent only appends to (Claude Code's transcript, Codex's rollout): a
 * subclass reads each line, starting a turn at each prompt (`begin`) and adding to `open` the
 * parts that follow. `take()` hands out the turns begun since the last call; the newest keeps
 * growing as its answer arrives.
 */
export abstract class TurnReader {
  private readonly tail: JsonlTail;
  private turns: Turn[] = [];
  /** The newest turn, taken or not: its answer may still be arriving. */
  protected open: Turn | undefined;

  constructor(file: string) {
    this.tail = new JsonlTail(file);
  }

  get file(): string {
    return this.tail.file;
  }

  /** Starts over on another file (after Load or /clear). */
  switchTo(file: string): void {
    if (this.tail.switchTo(file)) this.open = undefined;
  }

  /** Forgets what was read, but not where: the next read starts at the current end. */
  skipToEnd(): void {
    this.tail.skipToEnd();
    this.open = undefined;
  }

  /** Turns that began since the last `take()` (the last may still grow). */
  take(): Turn[] {
    this.read();
    const done = this.turns;
    this.turns = [];
    return done;
  }

  protected read(): void {
    for (const line of this.tail.read()) this.add(line);
  }

  protected begin(prompt: string): void {
    this.open = { prompt, parts: [] };
    this.turns.push(this.open);
  }

  protected abstract add(line: Record<string, unknown>): void;
}
