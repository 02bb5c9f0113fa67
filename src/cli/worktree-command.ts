/**
 * `anvillm worktree list|remove`: the worktrees of worktree sessions, on local files (like
 * `sandbox`). Removing one is explicit, and refused while it holds uncommitted changes or a
 * session still works in it; its branch always stays.
 */
import path from 'node:path';

import { stateHome } from '../sandbox/policy.js';
import { readRecords } from '../session/store.js';
import { listRecords, readRecord, removeWorktree, unsaved, worktreesRoot } from '../worktree/worktree.js';
import { UsageError, type CommandIO } from './io.js';

export const WORKTREE_USAGE = `usage: anvillm worktree list
       anvillm worktree remove <dir>

list    the worktrees of worktree sessions (under $XDG_DATA_HOME/anvillm/worktrees): directory,
        branch, clean, dirty or detached (commits on no branch), and the checkout each came from
remove  removes one (never its branch); refused while it has uncommitted changes or commits
        on no branch, or a session works in it`;

async function list(io: CommandIO): Promise<number> {
  for (const r of listRecords(io.env)) {
    const state = await unsaved(io.env, r).then((lost) => lost?.state ?? 'clean', (e: Error) => `unreadable (${e.message})`);
    io.stdout([r.path, r.branch, state, r.checkout].join('\t'));
  }
  return 0;
}

async function remove(dir: string, io: CommandIO): Promise<number> {
  const abs = path.resolve(dir);
  const rec = readRecord(abs);
  if (!rec) throw new Error(`${abs} is not a worktree of a worktree session: \`anvillm worktree list\` lists them (in ${worktreesRoot(io.env)})`);
  const user = readRecords(path.join(stateHome(io.env), 'anvillm', 'sessions.json')).find((s) => s.worktree?.path === rec.path);
  if (user) throw new Error(`session ${user.id} works in ${rec.path}: kill it first (anvillm kill ${user.id})`);
  await removeWorktree(io.env, rec);
  io.stdout(`removed ${rec.path}; branch ${rec.branch} kept`);
  return 0;
}

export async function worktreeCommand(args: string[], io: CommandIO): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h' || rest.includes('--help')) {
    io.stdout(WORKTREE_USAGE);
    return sub === undefined ? 2 : 0;
  }
  if (sub === 'list' && rest.length === 0) return list(io);
  if (sub === 'remove' && rest.length === 1) return remove(rest[0]!, io);
  throw new UsageError(WORKTREE_USAGE);
}
