/** Save: the conversation written by the agent's own command, by its driver, or as our transcript. */
import fs from 'node:fs';
import path from 'node:path';

import type { BackendDefinition } from '../backends/definition.js';
import type { Driver } from '../backends/driver.js';
import { writeOwnFile } from '../backends/untrusted.js';

export interface Saving {
  def: BackendDefinition;
  id: string;
  cwd: string;
  driver: Driver | null;
  /** The transcript (DESIGN §2). */
  conversation: string;
  /** Types a command into the agent (queued until it is idle). */
  type(text: string): void;
}

/** Writes the conversation (a relative `target` is in the session's directory); returns the file. */
export function saveConversation(s: Saving, dirs: { sessionDir: string; transcriptsDir: string }, target?: string): string {
  if (target !== undefined) checkPath(target);
  const save = s.def.save;
  const stamp = `${new Date().toISOString().replace(/[:.]/g, '-')}-${s.id}`;
  // The agent writes its own save, inside the sandbox: the transcripts directory is read-only
  // there (it is AnviLLM's configuration), the session's state directory is not.
  const file = target
    ? path.resolve(s.cwd, target)
    : save.method === 'command'
      ? path.join(dirs.sessionDir, 'saves', `${stamp}.json`)
      : path.join(dirs.transcriptsDir, `${stamp}.txt`);
  if (save.method === 'command') {
    if (!target) fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    s.type(save.save.replaceAll('{path}', file));
    return file;
  }
  if (s.driver?.save) {
    s.driver.save(file, s.conversation);
    return file;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeOwnFile(file, s.conversation, 0o644); // a link planted at that name is replaced, not followed
  return file;
}

/** A path typed into the agent (save/load commands) must stay one line of text. */
export function checkPath(p: string): void {
  if (/[\x00-\x1f\x7f]/.test(p)) throw new Error(`bad path ${JSON.stringify(p)}: no control characters or newlines`);
}
