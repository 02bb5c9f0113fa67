/**
 * A worktree session's own files in agent/<id>/: `branch` (its branch), `base` (the commit it
 * started from) and `diff` (everything it changed since: its commits and its uncommitted work,
 * as `git diff` text). Other sessions have none of them.
 */
import { SnapshotFile } from '../ninep/files.js';
import type { Node } from '../ninep/tree.js';
import type { WorktreeFile } from '../protocol/protocol.js';
import type { SessionManager } from '../session/manager.js';
import { diffText } from '../worktree/worktree.js';

export function worktreeFiles(manager: SessionManager, id: string): Node[] {
  const wt = manager.worktree(id);
  if (!wt) return [];
  const fixed = (name: WorktreeFile, text: string) => new SnapshotFile({ name, perm: 0o444, read: () => text, length: () => Buffer.byteLength(text) });
  return [
    fixed('branch', `${wt.branch}\n`),
    fixed('base', `${wt.base}\n`),
    // Computed at open (it runs git): its stat says 0, as `screen`'s does.
    new SnapshotFile({ name: 'diff', perm: 0o444, read: () => diffText(manager.env, wt) }),
  ];
}

