/**
 * Which of the protected paths (protected.ts) one session's grants reach, and what stands in for
 * the absent ones. The providers turn the answer into mounts (bwrap) or a refusal (landrun).
 */
import fs from 'node:fs';
import path from 'node:path';

import { gitPathsIn } from './git-dirs.js';
import { within } from './paths.js';
import { homeDir } from './policy.js';
import { GIT_DIR, HOME, PROJECT, agentHomes, ownConfig, type Placeholder, type ProtectedName } from './protected.js';

type Env = NodeJS.ProcessEnv;

export interface ProtectedPath {
  path: string;
  why: string;
  /** On the host now. */
  exists: boolean;
  /** Absent now: made on the host before the agent starts, then bound read-only. */
  placeholder: Placeholder | null;
  /** Absent with nothing made for it: `sealed` (the sealed home directory stops it), or `open` (see `why`). */
  absent?: 'sealed' | 'open';
  /** Writable grants inside it bound again after it (a worktree session's own git data); never for a mandatory path. */
  reopened?: string[];
}

export interface Protection {
  paths: ProtectedPath[];
  /** Directories bound read-only with each entry bound on its own: nothing new can be made at their top. */
  sealed: string[];
  /** Protected paths the policy's filesystem.unprotect releases. */
  released: { path: string; why: string; origin: string }[];
}

export interface GuardInput {
  grants: { path: string; write: boolean; exists: boolean }[];
  hidden: string[];
  cwd: string;
  /** Directories only AnviLLM and this session use (the state and temporary directories): nothing outside runs from them. */
  private: string[];
  env: Env;
  /** Absolute paths the policy releases, with where each was written. */
  unprotect: { path: string; origin: string }[];
}

interface Candidate {
  /** The directory the entry is named in. */
  base: string;
  path: string;
  why: string;
  absent: Placeholder | null;
  /** Absent ones get their placeholder only where the session works (its directory, git directories, the agents' homes). */
  mayMake: boolean;
}

function lexists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function isEmptyDir(p: string): boolean {
  try {
    return fs.readdirSync(p).length === 0;
  } catch {
    return false;
  }
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

const under = (base: string, names: readonly ProtectedName[], mayMake: boolean): Candidate[] =>
  names.map((n) => ({ base, path: path.join(base, n.name), why: n.why, absent: n.absent, mayMake }));

/** Every path that might need protecting, before asking whether the grants reach it. */
function candidates(input: GuardInput, writableDirs: string[], home: string, homeWritable: boolean): Candidate[] {
  const out: Candidate[] = [{ base: ownConfig(input.env), path: ownConfig(input.env), why: "AnviLLM's own configuration: the agent could rewrite its sandbox", absent: null, mayMake: false }];
  for (const dir of writableDirs) {
    const here = dir === input.cwd;
    out.push(...under(dir, PROJECT, here).filter((c) => !(path.basename(c.path) === '.git' && lexists(c.path))));
    const git = gitPathsIn(dir);
    for (const link of git.links) out.push({ base: link, path: link, why: 'a .git link: where git finds hooks and config', absent: null, mayMake: false });
    for (const d of git.dirs) out.push(...under(d, GIT_DIR, true));
  }
  if (homeWritable) out.push(...under(home, HOME, true));
  for (const a of agentHomes(input.env)) if (isDir(a.base)) out.push(...under(a.base, a.names, true));
  return out;
}

/**
 * The path as the kernel will reach it: symlinks among its existing components resolved, so a
 * link planted in an earlier session cannot aim a bind (or a placeholder) somewhere else.
 */
function realOf(p: string): string {
  let existing = p;
  while (!lexists(existing)) existing = path.dirname(existing);
  try {
    return path.join(fs.realpathSync(existing), path.relative(existing, p));
  } catch {
    return p;
  }
}

export function guard(input: GuardInput): Protection {
  const writable = input.grants.filter((g) => g.write && g.exists).map((g) => g.path);
  // A grant inside a hidden directory reaches what lies under it; the hidden rest is out of sight.
  const reachable = (p: string) =>
    writable.some((w) => within(p, w) && input.hidden.every((h) => !within(p, h) || within(w, h)));
  const home = homeDir(input.env);
  const homeWritable = reachable(home);
  const writableDirs = writable.filter((w) => isDir(w) && !input.private.some((p) => within(w, p)));
  const result: Protection = { paths: [], sealed: homeWritable ? [home] : [], released: [] };
  const seen = new Set<string>();
  const made = new Set<string>();
  for (const c of candidates(input, writableDirs, home, homeWritable)) {
    const real = realOf(c.path);
    if (seen.has(real) || !reachable(real)) continue;
    seen.add(real);
    const release = input.unprotect.find((u) => within(real, u.path));
    if (release) {
      result.released.push({ path: real, why: c.why, origin: release.origin });
      continue;
    }
    if (lexists(real)) {
      result.paths.push({ path: real, why: c.why, exists: true, placeholder: null });
      continue;
    }
    // Absent where nothing is made (another writable directory): nothing to say.
    if (!c.mayMake) continue;
    // The first missing component is what must not be made: the entry itself, or an empty directory above it.
    let missing = real;
    while (!lexists(path.dirname(missing))) missing = path.dirname(missing);
    const parent = path.dirname(missing);
    if (parent !== realOf(c.base) && within(parent, realOf(c.base)) && isEmptyDir(parent)) {
      // An empty directory above it (a placeholder an earlier session made): kept read-only whole.
      if (!seen.has(parent)) result.paths.push({ path: parent, why: c.why, exists: true, placeholder: null });
      seen.add(parent);
    } else if (result.sealed.includes(path.dirname(missing))) {
      result.paths.push({ path: real, why: c.why, exists: false, placeholder: null, absent: 'sealed' });
    } else if (!c.absent) {
      result.paths.push({ path: real, why: c.why, exists: false, placeholder: null, absent: 'open' });
    } else if (!made.has(missing)) {
      made.add(missing);
      result.paths.push({ path: missing, why: c.why, exists: false, placeholder: missing === real ? c.absent : { kind: 'dir' } });
    }
  }
  return result;
}

/** Makes the placeholders on the host (0755 directories, 0644 files), never replacing anything. */
export function makePlaceholders(protection: Protection): void {
  for (const p of protection.paths) {
    if (p.exists || !p.placeholder) continue;
    try {
      if (p.placeholder.kind === 'dir') fs.mkdirSync(p.path, { mode: 0o755 });
      else fs.writeFileSync(p.path, p.placeholder.content, { flag: 'wx', mode: 0o644 });
    } catch (e) {
      // Made meanwhile (another session starting here): bound read-only as it is.
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    p.exists = true;
  }
}
