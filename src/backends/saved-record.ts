/**
 * Save and Load for agents that keep a JSON Lines record of their own (Claude Code, Codex,
 * Gemini CLI): Save writes the rendered transcript and, beside it, a copy of the raw record
 * (`talk.txt` → `talk.jsonl`); Load reads that copy back, for the driver to put where its agent
 * resumes from, under a new id (the saved file stays as it was).
 */
import fs from 'node:fs';
import path from 'node:path';

import { openRegular, readRegular, writeOwnFile } from './untrusted.js';

/** The raw .jsonl saved beside a rendered transcript. */
export function rawFile(file: string): string {
  return file.replace(/\.txt$/, '') + '.jsonl';
}

/** Writes `rendered` to `file` and a copy of the agent's record beside it; returns both paths. */
export function saveRecord(record: string, file: string, rendered: string): string[] {
  // The record is in a directory the agent can write: only a regular file is copied.
  const f = openRegular(record);
  if (!f) throw new Error(`no conversation to save yet (${record} is not there)`);
  let jsonl: string;
  try {
    jsonl = fs.readFileSync(f.fd, 'utf8');
  } finally {
    fs.closeSync(f.fd);
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const raw = rawFile(file);
  writeOwnFile(file, rendered, 0o644);
  writeOwnFile(raw, jsonl, 0o600);
  return [file, raw];
}

/**
 * The lines of the record saved with `file` (or `file` itself, a .jsonl), each checked to be a
 * JSON object; `agent` names whose record it must be, in the error.
 */
export function readSavedRecord(file: string, agent: string): string[] {
  const raw = file.endsWith('.jsonl') ? file : rawFile(file);
  const text = readRegular(raw, 256 << 20);
  if (text === null) throw new Error(`${raw} cannot be read: Load takes a file written by Save (its .jsonl lies beside it)`);
  const lines = text.split('\n');
  for (const line of lines) {
    if (!line.trim()) continue;
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      entry = null;
    }
    if (!entry || typeof entry !== 'object' || Array.isArray(entry)) throw new Error(`${raw} is not a ${agent} record (line "${line.slice(0, 40)}…")`);
  }
  return lines;
}
