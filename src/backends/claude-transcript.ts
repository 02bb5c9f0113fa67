/**
 * Claude Code's own record of a conversation: `<config>/projects/<cwd, every non-alphanumeric
 * character replaced by ->/<session uuid>.jsonl`, one JSON object per line. Prompts are `user`
 * lines; the answer arrives as `assistant` lines, one per content block (text, tool_use); tool
 * results come back as `user` lines holding `tool_result` blocks. An interrupted answer is kept
 * as a "<synthetic>" assistant line followed by "[Request interrupted by user]".
 */
import path from 'node:path';

import { toolLine } from './driver.js';
import { TurnReader, holdsMessage } from './jsonl-tail.js';

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

/**
 * Whether Claude Code could resume `file`: it refuses ("No conversation found") one without a
 * message, which is what a Claude Code killed before it flushed its first turn leaves (a title
 * line only — measured on 2.1.197, killed within ~100 ms of its Stop hook).
 */
export function holdsConversation(file: string): boolean {
  return holdsMessage(file, (line) => line['type'] === 'user' || line['type'] === 'assistant');
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

/** Reads a transcript as it grows (TurnReader). */
export class TranscriptReader extends TurnReader {
  protected add(raw: Record<string, unknown>): void {
    const line = raw as Line;
    const prompt = promptOf(line);
    if (prompt !== null) return this.begin(prompt);
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
      else if (b.type === 'tool_use') turn.parts.push({ kind: 'tool', text: toolLine(b.name ?? 'tool', b.input ?? {}) });
    }
  }
}
