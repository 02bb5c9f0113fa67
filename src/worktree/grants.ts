/**
 * What a worktree session's sandbox adds to the policy (src/sandbox's SessionExtra): the worktree
 * read-write, and of the repository's git directory only what a commit from that worktree writes —
 * objects, the branch's ref and its log, the worktree's administrative directory. The rest of the
 * git directory is read-only (git reads its config, refs and packs; the agent's own git may run
 * the user's hooks, inside the sandbox, but can change none of them). The user's checkout and the
 * other agents' worktrees stay read-only even when the policy grants more; by default they are
 * not shown at all. (src/sandbox keeps hooks and config read-only inside every writable grant.)
 */
import fs from 'node:fs';
import path from 'node:path';

import type { ExtraGrant, SessionExtra } from '../sandbox/resolve.js';
import { worktreesRoot, type WorktreeRecord } from './worktree.js';

export function worktreeGrants(env: NodeJS.ProcessEnv, rec: WorktreeRecord): SessionExtra {
  const git = rec.commonDir;
  const grants: ExtraGrant[] = [
    { path: rec.path, access: 'rw', origin: `the worktree (branch ${rec.branch})` },
    { path: git, access: 'ro', origin: "the repository's git data (read)" },
    { path: path.join(git, 'objects'), access: 'rw', origin: 'git objects: commits from the worktree' },
    // Lock files and renames happen in the ref's directory: for anvillm/x that is refs/heads/anvillm.
    { path: path.dirname(path.join(git, 'refs', 'heads', rec.branch)), access: 'rw', origin: `the branch ${rec.branch}` },
    { path: path.dirname(path.join(git, 'logs', 'refs', 'heads', rec.branch)), access: 'rw', origin: `the branch's log` },
    { path: rec.adminDir, access: 'rw', origin: "the worktree's git index, HEAD and logs" },
  ];
  // A repository storing refs in reftable keeps them all in one directory.
  const reftable = path.join(git, 'reftable');
  if (fs.existsSync(reftable)) grants.push({ path: reftable, access: 'rw', origin: 'the refs (reftable)' });
  // Where the user's own git, run later in this worktree, takes directions from: the `.git` file
  // (which git directory), `commondir` (which repository), `gitdir`, and `config.worktree`
  // (made empty at creation, so it cannot be planted). Rewritten, they could make it run programs.
  const pointers = [path.join(rec.path, '.git'), ...['commondir', 'gitdir', 'config.worktree'].map((f) => path.join(rec.adminDir, f))];
  // A commit writes loose objects only. The packs (most of a cloned history) and objects/info
  // (commit-graph, which git trusts for parents and dates) stay as they are.
  const history = ['pack', 'info'].map((d) => path.join(git, 'objects', d));
  return { grants, readOnly: [rec.checkout, worktreesRoot(env), ...pointers, ...history] };
}
