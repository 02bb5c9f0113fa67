/**
 * A per-session home for an agent CLI (gemini-home.ts, codex-home.ts): a directory of AnviLLM's
 * own under the session's state directory whose entries are links to the user's agent home
 * (credentials, records, history go on being read and written there), except the files the
 * driver writes itself (its settings with our hooks, or with the session's folder trusted). The
 * user's command-bearing files the links reach stay read-only inside the sandbox
 * (sandbox/protected.ts, which resolves links before binding).
 */
import fs from 'node:fs';
import path from 'node:path';

/**
 * Makes `dir` and links there every entry of `user` but `own` (made first in `user`: the `keep`
 * directories the agent creates at first use, so they are shared, not lost with the session).
 * Links to entries the user no longer has are removed.
 */
export function linkEntries(user: string, dir: string, own: readonly string[], keep: readonly string[]): void {
  for (const d of keep) fs.mkdirSync(path.join(user, d), { recursive: true, mode: 0o700 });
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const theirs = new Set(fs.readdirSync(user).filter((n) => !own.includes(n)));
  for (const name of new Set([...theirs, ...fs.readdirSync(dir)])) {
    if (!own.includes(name)) link(path.join(dir, name), theirs.has(name) ? path.join(user, name) : null);
  }
}

/**
 * `at` a link to `target` (null: none). What else stands there is left alone unless it is an
 * empty directory: the sandbox's placeholder for a name the user did not have at the last start.
 */
function link(at: string, target: string | null): void {
  let st: fs.Stats | null = null;
  try {
    st = fs.lstatSync(at);
  } catch {
    // nothing there
  }
  try {
    if (st?.isSymbolicLink()) {
      if (target !== null && fs.readlinkSync(at) === target) return;
      fs.unlinkSync(at);
    } else if (st?.isDirectory() && target !== null) {
      fs.rmdirSync(at); // fails, and is kept, unless empty
    } else if (st) {
      return;
    }
    if (target !== null) fs.symlinkSync(target, at);
  } catch {
    // in use (a mount of the sandbox's) or not empty: kept as it is
  }
}
