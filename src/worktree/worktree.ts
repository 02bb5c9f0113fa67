/**
 * Worktree sessions: an agent works in a git worktree of the user's repository, on its own
 * branch, outside the user's checkout (DESIGN §4). This module makes and removes the worktrees and
 * reads their changes; src/sandbox gets from it what the session may write (./grants.ts).
 *
 * Everything an agent can write — the worktree with its `.git` file, the worktree's
 * administrative directory (`.git/worktrees/<name>`: its `commondir`, `gitdir`, index) — is data
 * to our git calls, never a place they take directions from: every call names the repository's
 * git directory itself (from the record made at creation), and the worktree's files are read
 * into a throw-away index whose new objects go to a throw-away directory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { homeDir } from '../sandbox/policy.js';
import { within } from '../sandbox/paths.js';
import { GIT_MISSING, GitError, git, gitLine, gitPath } from './git.js';

type Env = NodeJS.ProcessEnv;

/** What a worktree session keeps in sessions.json, and beside the worktree (`<path>.json`). */
export interface WorktreeRecord {
  /** The worktree's top directory. */
  path: string;
  /** The repository's git directory (…/.git), shared by all its worktrees. */
  commonDir: string;
  /** This worktree's administrative directory (…/.git/worktrees/<name>). */
  adminDir: string;
  /** The top of the checkout the session was started from. */
  checkout: string;
  branch: string;
  /** The commit the branch started at. */
  base: string;
}

/** $XDG_DATA_HOME/anvillm/worktrees: where every worktree session's worktree lives. */
export function worktreesRoot(env: Env): string {
  return path.join(env['XDG_DATA_HOME'] || path.join(homeDir(env), '.local', 'share'), 'anvillm', 'worktrees');
}

/** worktreesRoot with its symbolic links resolved, as session directories are. */
function realRoot(env: Env): string {
  const root = worktreesRoot(env);
  return fs.existsSync(root) ? fs.realpathSync(root) : root;
}

function recordFile(worktree: string): string {
  return `${worktree}.json`;
}

/** The record of a worktree AnviLLM made, read from beside it (never from inside it). */
export function readRecord(worktree: string): WorktreeRecord | null {
  try {
    return JSON.parse(fs.readFileSync(recordFile(worktree), 'utf8')) as WorktreeRecord;
  } catch {
    return null;
  }
}

export function listRecords(env: Env): WorktreeRecord[] {
  const root = worktreesRoot(env);
  let names: string[];
  try {
    names = fs.readdirSync(root).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  return names.flatMap((n) => readRecord(path.join(root, n.slice(0, -'.json'.length))) ?? []);
}

interface Source {
  top: string;
  commonDir: string;
  prefix: string;
  head: string;
}

/** The repository `dir` is in, or the refusal that says why not (most important words first). */
async function source(env: Env, dir: string): Promise<Source> {
  if (!gitPath(env)) throw new GitError(GIT_MISSING);
  if (within(dir, realRoot(env))) throw new GitError(`${dir} is an agent's worktree: start from your own checkout`);
  let bare: string;
  try {
    bare = await gitLine(env, ['rev-parse', '--is-bare-repository', '--is-inside-git-dir'], { cwd: dir });
  } catch {
    throw new GitError(`not a git repository: ${dir}`);
  }
  if (bare.startsWith('true')) throw new GitError(`a bare repository has no checkout to branch from: ${dir}`);
  if (bare.endsWith('true')) throw new GitError(`inside a .git directory, not a checkout: ${dir}`);
  const [top, commonDir, prefix] = (await git(env, ['rev-parse', '--show-toplevel', '--git-common-dir', '--show-prefix'], { cwd: dir })).stdout.split('\n');
  const head = await gitLine(env, ['rev-parse', '--verify', '--quiet', 'HEAD^{commit}'], { cwd: dir }).catch(() => '');
  if (head === '') throw new GitError(`no commit to branch from in ${top}: commit first`);
  return { top: top!, commonDir: fs.realpathSync(path.resolve(dir, commonDir!)), prefix: prefix ?? '', head };
}

export interface Created {
  record: WorktreeRecord;
  /** The session's directory: the worktree, or the same subdirectory of it that `dir` was of the checkout. */
  cwd: string;
}

/**
 * A new worktree of `dir`'s repository on the new branch `branch`, from its current HEAD, under
 * worktreesRoot as `<repository>-<id>`.
 */
export async function createWorktree(env: Env, dir: string, id: string, branch: string): Promise<Created> {
  const src = await source(env, dir);
  const repo = { gitDir: src.commonDir };
  try {
    await git(env, ['check-ref-format', '--branch', branch], repo);
  } catch {
    throw new GitError(`bad branch name "${branch}": see git check-ref-format`);
  }
  const exists = await git(env, ['show-ref', '--verify', '--quiet', `refs/heads/${branch}`], { ...repo, allowStatus1: true });
  if (exists.status === 0) throw new GitError(`branch "${branch}" already exists: give another name (worktree=<branch>)`);
  fs.mkdirSync(worktreesRoot(env), { recursive: true, mode: 0o700 });
  const wt = path.join(realRoot(env), `${path.basename(src.top)}-${id}`);
  await git(env, ['worktree', 'add', '-b', branch, wt, src.head], { cwd: src.top, gitDir: src.commonDir });
  const record: WorktreeRecord = { path: wt, commonDir: src.commonDir, adminDir: '', checkout: src.top, branch, base: src.head };
  try {
    // Written by git a moment ago, before any agent ran here.
    const gitdir = /^gitdir: (.*)$/m.exec(fs.readFileSync(path.join(wt, '.git'), 'utf8'))?.[1];
    if (!gitdir) throw new GitError(`git wrote no .git file in ${wt}`);
    record.adminDir = fs.realpathSync(path.resolve(wt, gitdir));
    // Empty, so the sandbox can keep it read-only: an agent must not plant settings there.
    fs.writeFileSync(path.join(record.adminDir, 'config.worktree'), '', { flag: 'a' });
    fs.writeFileSync(recordFile(wt), `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  } catch (e) {
    await discardWorktree(env, record);
    throw e;
  }
  const cwd = path.join(wt, src.prefix);
  return { record, cwd: fs.existsSync(cwd) ? cwd : wt };
}

/** Undoes createWorktree (a `new` refused after it): the worktree, its branch and record go. */
export async function discardWorktree(env: Env, rec: WorktreeRecord): Promise<void> {
  await git(env, ['worktree', 'remove', '--force', '--force', rec.path], { gitDir: rec.commonDir }).catch(() => {});
  await git(env, ['branch', '-D', rec.branch], { gitDir: rec.commonDir }).catch(() => {});
  fs.rmSync(recordFile(rec.path), { force: true });
}

/**
 * Runs `f` with the worktree's files in a throw-away index (git add -A: tracked and untracked,
 * ignored files left out). New objects go to a throw-away directory: the repository gains nothing.
 * The index starts empty, so every file is read: starting from the agent's own index would be
 * faster, but its entries name blobs by stat data the agent can forge, hiding a change.
 */
async function withSnapshot<T>(env: Env, rec: WorktreeRecord, f: (o: { gitDir: string; indexFile: string; objectDir: string; alternates: string }) => Promise<T>): Promise<T> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'anvillm-worktree-'));
  try {
    const o = { gitDir: rec.commonDir, indexFile: path.join(tmp, 'index'), objectDir: path.join(tmp, 'objects'), alternates: path.join(rec.commonDir, 'objects') };
    fs.mkdirSync(o.objectDir);
    await git(env, ['add', '--all', '--', '.'], { ...o, cwd: rec.path, workTree: rec.path });
    return await f(o);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

const DIFF = ['diff', '--no-color', '--no-ext-diff', '--no-textconv'];

/** The commit the worktree has checked out (its HEAD file read as data, resolved by us). */
async function head(env: Env, rec: WorktreeRecord): Promise<{ commit: string; detached: boolean }> {
  const text = fs.readFileSync(path.join(rec.adminDir, 'HEAD'), 'utf8').trim();
  const ref = /^ref: (refs\/heads\/\S+)$/.exec(text)?.[1] ?? (/^[0-9a-f]{40,64}$/.test(text) ? text : null);
  if (!ref) throw new GitError(`cannot read the HEAD of ${rec.path}`);
  return { commit: await gitLine(env, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], { gitDir: rec.commonDir }), detached: ref === text };
}

const UNSAVED = {
  dirty: { state: 'dirty', why: 'has uncommitted changes', fix: 'commit or discard them first' },
  detached: { state: 'detached', why: 'has commits on no branch (a detached HEAD)', fix: 'put them on a branch first' },
} as const;

/**
 * What removing the worktree now would lose, or null: uncommitted changes (untracked files count,
 * ignored ones do not), or commits that only its detached HEAD holds.
 */
export async function unsaved(env: Env, rec: WorktreeRecord): Promise<(typeof UNSAVED)[keyof typeof UNSAVED] | null> {
  if (!fs.existsSync(rec.path)) return null;
  const { commit, detached } = await head(env, rec);
  const dirty = await withSnapshot(env, rec, async (o) => (await git(env, [...DIFF, '--cached', '--quiet', commit], { ...o, allowStatus1: true })).status === 1);
  if (dirty) return UNSAVED.dirty;
  if (!detached) return null;
  const holder = await gitLine(env, ['for-each-ref', '--count=1', '--format=%(refname)', '--contains', commit, 'refs/heads/'], { gitDir: rec.commonDir });
  return holder === '' ? UNSAVED.detached : null;
}

/**
 * Everything the session changed since the branch point, as `git diff` text: its commits and its
 * uncommitted work (new files too). Once the worktree is gone: base against the branch.
 */
export async function diffText(env: Env, rec: WorktreeRecord): Promise<string> {
  if (!fs.existsSync(rec.path)) return (await git(env, [...DIFF, rec.base, `refs/heads/${rec.branch}`, '--'], { gitDir: rec.commonDir })).stdout;
  return withSnapshot(env, rec, async (o) => (await git(env, [...DIFF, '--cached', rec.base, '--'], o)).stdout);
}

/** Removes the worktree (never its branch), refusing while that would lose work. */
export async function removeWorktree(env: Env, rec: WorktreeRecord): Promise<void> {
  const lost = await unsaved(env, rec);
  if (lost) throw new GitError(`worktree ${rec.path} ${lost.why}: ${lost.fix}`);
  // --force: our own check above replaces git's, which would run git status inside the worktree
  // with the index and settings the agent left there.
  await git(env, ['worktree', 'remove', '--force', rec.path], { gitDir: rec.commonDir });
  fs.rmSync(recordFile(rec.path), { force: true });
}

/**
 * After a kill: the branch always stays; the worktree stays while removing it would lose work.
 * Says what was kept, and where.
 */
export async function releaseWorktree(env: Env, rec: WorktreeRecord): Promise<string> {
  const kept = `branch ${rec.branch} kept`;
  const lost = await unsaved(env, rec).catch((e: Error) => ({ why: `is unreadable (${e.message})` }));
  if (lost) return `${kept}; worktree kept, it ${lost.why}: ${rec.path}`;
  if (!fs.existsSync(rec.path)) return kept;
  await removeWorktree(env, rec);
  return `${kept}; its clean worktree removed`;
}
