/**
 * The git directories whose hooks and config a writable directory lets an agent reach: its own
 * `.git` (a directory, or a `gitdir:` link file as a linked worktree or a submodule's checkout
 * has), the directory such a link names and that one's `commondir`, the submodules' git
 * directories under `modules/` (nested ones too) and the linked worktrees' under `worktrees/`, and
 * the same for repositories a few levels down (`new claude ~/src`).
 *
 * Read before the agent starts, from files the agent may have written in an earlier session: no
 * symlink is followed while walking, and every walk is bounded.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface GitPaths {
  /** Git directories: each one's hooks and config are protected. */
  dirs: string[];
  /** `.git` link files: protected themselves (they say where git finds hooks and config). */
  links: string[];
}

/** How deep below a writable directory other repositories are looked for, and how many directories at most. */
const NESTED_DEPTH = 2;
const MAX_DIRS = 2000;

function lstat(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch {
    return null;
  }
}

function isGitDir(dir: string): boolean {
  return lstat(path.join(dir, 'HEAD')) !== null || lstat(path.join(dir, 'config')) !== null;
}

/** The path a `gitdir: X` link or a `commondir` names, resolved against `base` (as git does: the file's whole first line). */
function readPointer(file: string, base: string, prefix: string): string | null {
  let text: string;
  try {
    if (!fs.lstatSync(file).isFile()) return null;
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      const buf = Buffer.alloc(4096);
      text = buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return null;
  }
  if (!text.startsWith(prefix)) return null;
  const target = text.slice(prefix.length).replace(/[\r\n]+$/, '').split('\n')[0]!;
  return target ? path.resolve(base, target) : null;
}

/** A git directory and those it holds: submodules' (modules/**, nested), linked worktrees' (worktrees/*). */
function withInner(gitDir: string, out: Set<string>, budget: { left: number }): void {
  if (out.has(gitDir)) return;
  out.add(gitDir);
  const pending = [path.join(gitDir, 'modules')];
  for (const entry of readDirs(path.join(gitDir, 'worktrees'), budget)) out.add(entry);
  while (pending.length > 0 && budget.left > 0) {
    for (const child of readDirs(pending.pop()!, budget)) {
      // A submodule's name may have several segments (modules/vendor/lib).
      if (isGitDir(child)) {
        out.add(child);
        pending.push(path.join(child, 'modules'));
      } else {
        pending.push(child);
      }
    }
  }
}

/** Subdirectories of `dir`, symlinks not followed. */
function readDirs(dir: string, budget: { left: number }, skip: (name: string) => boolean = () => false): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const dirs: string[] = [];
  for (const e of entries) {
    if (!e.isDirectory() || skip(e.name) || budget.left-- <= 0) continue;
    dirs.push(path.join(dir, e.name));
  }
  return dirs;
}

/** The `.git` of one working directory: a directory, or a link to one (and its commondir). */
function repositoryAt(root: string, found: GitPaths, dirs: Set<string>, budget: { left: number }): void {
  const dotGit = path.join(root, '.git');
  const st = lstat(dotGit);
  if (!st) return;
  if (st.isDirectory()) return withInner(dotGit, dirs, budget);
  if (!st.isFile()) return;
  found.links.push(dotGit);
  const target = readPointer(dotGit, root, 'gitdir: ');
  if (!target || !lstat(target)?.isDirectory()) return;
  withInner(target, dirs, budget);
  const common = readPointer(path.join(target, 'commondir'), target, '');
  if (common && lstat(common)?.isDirectory()) withInner(common, dirs, budget);
}

/** The git directories and links in `root` and up to NESTED_DEPTH levels below it. */
export function gitPathsIn(root: string): GitPaths {
  const found: GitPaths = { dirs: [], links: [] };
  const dirs = new Set<string>();
  const budget = { left: MAX_DIRS };
  let level = [root];
  for (let depth = 0; depth <= NESTED_DEPTH && level.length > 0; depth++) {
    const next: string[] = [];
    for (const dir of level) {
      repositoryAt(dir, found, dirs, budget);
      if (depth < NESTED_DEPTH) next.push(...readDirs(dir, budget, (n) => n.startsWith('.') || n === 'node_modules'));
    }
    level = next;
  }
  found.dirs = [...dirs].sort();
  return found;
}
