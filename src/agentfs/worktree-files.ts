/**
 * A worktree session's own files in agent/<id>/: `branch` (its branch), `base` (the commit it
 * started from) and `diff` (everything it changed since: its commits and its uncommitted work,
 * as `git diff` text). Other sessions have none of them.
 */
import { SnapshotFile } from '../ninep/files.js';
import type { Node } from '../ninep/tree.js';
import type { SessionManager } from '../session/manager.js';
import { diffText } from '../worktree/worktree.js';

export function worktreeFiles(manager: SessionManager, id: string): Node[] {
  const wt = manager.worktree(id);
  if (!wt) return [];
  const fixed = (name: string, text: string) => new SnapshotFile({ name, perm: 0o444, read: () => text, length: () => Buffer.byteLength(text) });
  return [
    fixed('branch', `${wt.branch}\n`),
    fixed('base', `${wt.base}\n`),
    // Computed at open (it runs git): its stat says 0, as `screen`'s does.
    new SnapshotFile({ name: 'diff', perm: 0o444, read: () => diffText(manager.env, wt) }),
  ];
}

/**
 * The words after `new <backend> <cwd>`: `[alias] [worktree[=<branch>]]`. The last word is the
 * worktree option when it is `worktree` or starts `worktree=` (an alias cannot hold `=`), so an
 * alias named worktree is given as `new <backend> <cwd> worktree worktree`.
 */
export function newOptions(words: string[]): { alias?: string; worktree?: { branch?: string } } | null {
  const last = words.at(-1);
  const m = last === undefined ? null : /^worktree(?:=(.*))?$/s.exec(last);
  const rest = m ? words.slice(0, -1) : words;
  if (rest.length > 1 || m?.[1] === '') return null;
  return {
    ...(rest[0] !== undefined ? { alias: rest[0] } : {}),
    ...(m ? { worktree: m[1] !== undefined ? { branch: m[1] } : {} } : {}),
  };
}
