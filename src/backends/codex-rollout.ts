/**
 * Codex's own record of a conversation, its rollout: `$CODEX_HOME/sessions/YYYY/MM/DD/
 * rollout-<time>-<session id>.jsonl`, one JSON object per line (measured with 0.169.0):
 * - a prompt the user typed: `event_msg` / `item_completed` with an item of type `UserMessage`
 *   (Codex's own context also travels as user messages, but never as that event);
 * - the answer: `response_item` lines, as sent by the model — `message` (role assistant,
 *   `output_text` blocks), `function_call` (name, JSON arguments), `custom_tool_call` (apply_patch);
 * - a turn's start and end: `event_msg` / `task_started`, then `task_complete` or, when the user
 *   interrupted it, `turn_aborted`.
 * `codex resume <id>` appends to the same file.
 */
import fs from 'node:fs';
import path from 'node:path';

import { toolLine } from './driver.js';
import { TurnReader } from './jsonl-tail.js';

type Json = Record<string, unknown>;

const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const list = (v: unknown): Json[] => (Array.isArray(v) ? v.map(obj) : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The rollout of session `id` if `file` names one inside `sessionsDir` (a hook's transcript_path is a hint). */
export function isRolloutOf(file: string, sessionsDir: string, id: string): boolean {
  const resolved = path.resolve(file);
  const name = path.basename(resolved);
  return resolved.startsWith(sessionsDir + path.sep) && name.startsWith('rollout-') && name.endsWith(`-${id}.jsonl`);
}

/** The rollout of session `id`, newest day first, or null. */
export function findRollout(sessionsDir: string, id: string): string | null {
  const names = (dir: string): string[] => {
    try {
      return fs.readdirSync(dir).sort().reverse();
    } catch {
      return [];
    }
  };
  for (const y of names(sessionsDir))
    for (const m of names(path.join(sessionsDir, y)))
      for (const d of names(path.join(sessionsDir, y, m))) {
        const day = path.join(sessionsDir, y, m, d);
        const hit = names(day).find((n) => n.startsWith('rollout-') && n.endsWith(`-${id}.jsonl`));
        if (hit) return path.join(day, hit);
      }
  return null;
}

/** Reads a rollout as it grows (TurnReader), and whether Codex is in a turn. */
export class RolloutReader extends TurnReader {
  /** Between a turn's task_started and its end, as far as read. */
  private inTurn = false;

  /** Whether Codex is in a turn, by its record (turns read are kept for the next `take()`). */
  busy(): boolean {
    this.read();
    return this.inTurn;
  }

  protected add(line: Json): void {
    const payload = obj(line['payload']);
    if (line['type'] === 'event_msg' && typeof payload['type'] === 'string' && /^(task_started|task_complete|turn_aborted)$/.test(payload['type'])) {
      this.inTurn = payload['type'] === 'task_started';
      return;
    }
    if (line['type'] === 'event_msg' && payload['type'] === 'item_completed') {
      const item = obj(payload['item']);
      if (item['type'] !== 'UserMessage') return;
      const prompt = list(item['content'])
        .filter((c) => c['type'] === 'text')
        .map((c) => str(c['text']))
        .join('');
      return this.begin(prompt);
    }
    if (line['type'] !== 'response_item' || !this.open) return;
    const parts = this.open.parts;
    if (payload['type'] === 'message' && payload['role'] === 'assistant') {
      for (const c of list(payload['content'])) if (c['type'] === 'output_text' && str(c['text'])) parts.push({ kind: 'text', text: str(c['text']) });
    } else if (payload['type'] === 'function_call') {
      let args: Json;
      try {
        args = obj(JSON.parse(str(payload['arguments'])));
      } catch {
        args = { arguments: str(payload['arguments']) };
      }
      parts.push({ kind: 'tool', text: toolLine(str(payload['name']) || 'tool', args) });
    } else if (payload['type'] === 'custom_tool_call') {
      parts.push({ kind: 'tool', text: toolLine(str(payload['name']) || 'tool', { command: str(payload['input']).split('\n')[0] ?? '' }) });
    }
  }
}
