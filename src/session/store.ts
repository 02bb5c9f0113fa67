/** sessions.json: the sessions a restarted daemon re-adopts. Written atomically (a rename). */
import fs from 'node:fs';
import path from 'node:path';

import type { WorktreeRecord } from '../worktree/worktree.js';

/** Where a session's agent runs. */
export interface Place {
  tmuxSession: string;
  windowId: string;
  paneId: string;
  pid: number;
}

/** What survives a daemon restart (sessions.json). */
export interface SessionRecord extends Place {
  id: string;
  backend: string;
  cwd: string;
  alias: string | null;
  context: string;
  winid: number | null;
  createdAt: string;
  /** The driver's own (Claude's conversation uuid). */
  driver?: Record<string, string>;
}

/** A session's record, with its worktree when it works in one. */
export type StoredRecord = SessionRecord & { worktree?: WorktreeRecord };

export function readRecords(file: string): StoredRecord[] {
  try {
    const data = JSON.parse(fs.readFileSync(file, 'utf8')) as { sessions?: StoredRecord[] };
    return Array.isArray(data.sessions) ? data.sessions : [];
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
}

export function writeRecords(file: string, records: StoredRecord[]): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify({ sessions: records }, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}
