/**
 * Running git for the daemon: by argv (never a shell), with an environment we fix. Worktree
 * sessions let an agent write a worktree, its administrative directory and the repository's
 * objects; nothing it wrote there may make *our* git calls run a program. So: no system or global
 * configuration, no hooks, no fsmonitor, no pager, no external diff or textconv, no prompts, and
 * none of the daemon's own GIT_* variables (a GIT_DIR there would point every call elsewhere).
 * The repository's own configuration is the user's and is read; the agent cannot write it.
 */
import { execFile } from 'node:child_process';

import { findOnPath } from '../sandbox/resolve.js';

type Env = NodeJS.ProcessEnv;

export class GitError extends Error {
  override name = 'GitError';
}

/** Settings that would run a program, switched off on the command line (which wins over files). */
const SAFE_CONFIG = [
  'core.fsmonitor=false',
  'core.hooksPath=/dev/null',
  'core.pager=cat',
  'core.untrackedCache=false',
  'diff.external=',
  'credential.helper=',
  'protocol.allow=never',
];

export interface GitOptions {
  /** The directory git runs in. */
  cwd?: string;
  /** Exact locations, so nothing found on disk (a `.git` file an agent rewrote) chooses them. */
  gitDir?: string;
  workTree?: string;
  indexFile?: string;
  /** New objects go here; the repository's are read through `alternates`. */
  objectDir?: string;
  alternates?: string;
  /** Exit status 1 is an answer, not a failure (`diff --quiet`). */
  allowStatus1?: boolean;
}

export interface GitResult {
  stdout: string;
  status: number;
}

/** git's absolute path on the daemon's PATH, or null. */
export function gitPath(env: Env): string | null {
  return findOnPath('git', env);
}

export const GIT_MISSING = 'git is not installed: worktree sessions need it (sudo apt-get install git)';

/** The environment every call gets: nothing of the daemon's but PATH and HOME. */
function safeEnv(env: Env, o: GitOptions): Env {
  const out: Env = {
    PATH: env['PATH'] ?? '/usr/bin:/bin',
    HOME: env['HOME'] ?? '/nonexistent',
    LC_ALL: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_ATTR_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_OPTIONAL_LOCKS: '0',
    GIT_NO_REPLACE_OBJECTS: '1',
    GIT_PAGER: 'cat',
  };
  if (o.gitDir) out['GIT_DIR'] = o.gitDir;
  if (o.workTree) out['GIT_WORK_TREE'] = o.workTree;
  if (o.indexFile) out['GIT_INDEX_FILE'] = o.indexFile;
  if (o.objectDir) out['GIT_OBJECT_DIRECTORY'] = o.objectDir;
  if (o.alternates) out['GIT_ALTERNATE_OBJECT_DIRECTORIES'] = o.alternates;
  return out;
}

/** Runs git; rejects with git's own first error line. */
export function git(env: Env, args: string[], o: GitOptions = {}): Promise<GitResult> {
  const file = gitPath(env);
  if (!file) return Promise.reject(new GitError(GIT_MISSING));
  const argv = [...SAFE_CONFIG.flatMap((c) => ['-c', c]), ...args];
  return new Promise((resolve, reject) => {
    execFile(file, argv, { cwd: o.cwd, env: safeEnv(env, o), maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      const status = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      if (status === 0 || (status === 1 && o.allowStatus1)) return resolve({ stdout, status });
      const line = stderr.split('\n').find((l) => l.trim() !== '') ?? err?.message ?? 'failed';
      reject(new GitError(line.replace(/^(fatal|error): /, '')));
    });
  });
}

/** git's trimmed output. */
export async function gitLine(env: Env, args: string[], o: GitOptions = {}): Promise<string> {
  return (await git(env, args, o)).stdout.trim();
}
