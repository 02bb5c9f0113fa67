/**
 * Codex CLI asks "Trust this folder?" in a git repository it has not trusted yet and records the
 * answer in $CODEX_HOME/config.toml, which the sandbox keeps read-only; a `-c projects...`
 * override of it is ignored (measured with 0.169.0). So each session gets a CODEX_HOME of its
 * own, `<state dir>/codex-home`, brought up to date at every start: every entry of the user's
 * ~/.codex (or $CODEX_HOME) is a link to the original (auth.json, so a login is kept and
 * refreshed; sessions/, so rollouts, Save/Load and `codex resume` stay shared; history; the
 * user's hooks.json, rules, prompts — which the sandbox keeps read-only through the links),
 * except `config.toml`: a copy of the user's (its paths into the user's home naming this one) in
 * which the session's folder is trusted: starting a session there is the user's decision to run
 * the agent there. Nothing is written to the user's files, and nothing written into this home is
 * ever read by the user's own Codex.
 */
import fs from 'node:fs';
import path from 'node:path';

import { CODEX } from '../sandbox/protected.js';
import { linkEntries } from './agent-home.js';
import { readRegular, writeOwnFile } from './untrusted.js';

/**
 * Directories Codex creates at first use: made in the user's home first, so they are shared and
 * the sandbox grants them (it grants only paths that exist). tmp: its helper programs, which the
 * default policy lets run from ~/.codex (read-write-execute), not from the state directory.
 */
const KEEP = ['sessions', 'tmp'];

/**
 * Makes (or brings up to date, at a restart, while the last start's Codex may still run) the
 * session's Codex home in `dir` from the user's `user` and returns it, for CODEX_HOME.
 */
export function codexSessionHome(user: string, dir: string, cwd: string): string {
  dropPlanted(dir);
  linkEntries(user, dir, ['config.toml'], KEEP);
  const file = path.join(user, 'config.toml');
  const theirs = fs.existsSync(file) ? readRegular(fs.realpathSync(file), 4 << 20) : '';
  if (theirs === null) throw new Error(`${file} cannot be read as a file: AnviLLM cannot copy it into the session's Codex home`);
  writeOwnFile(path.join(dir, 'config.toml'), trusting(rehomed(theirs, user, dir), trustedFolders(cwd)), 0o600);
  return dir;
}

/**
 * Paths into the user's home named by the session's (whose entries lead to the same files): Codex
 * keys the trust of a hook by its file's path as it reached it ("<home>/hooks.json:stop:0:0",
 * measured with 0.169.0), so the user's trusted hooks stay trusted in the session.
 */
function rehomed(config: string, user: string, dir: string): string {
  const quoted = (p: string) => JSON.stringify(`${p}/`).slice(0, -1);
  return config.replaceAll(quoted(user), quoted(dir)).replaceAll(`'${user}/`, `'${dir}/`);
}

/**
 * What Codex obeys that an agent made in the session's home in place of a link or the sandbox's
 * read-only placeholder (the home itself is writable): not carried on to the next start.
 */
function dropPlanted(dir: string): void {
  for (const { name } of CODEX) {
    const at = path.join(dir, name);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(at);
    } catch {
      continue;
    }
    if (name !== 'config.toml' && !st.isSymbolicLink() && !(st.isDirectory() && fs.readdirSync(at).length === 0)) fs.rmSync(at, { recursive: true, force: true });
  }
}

/** The folder, and the repository Codex keys its trust by (the main one, for a linked worktree). */
function trustedFolders(cwd: string): string[] {
  const dirs = [path.resolve(cwd)];
  for (let d = dirs[0]!; ; d = path.dirname(d)) {
    const git = path.join(d, '.git');
    if (fs.existsSync(git)) {
      const pointer = fs.statSync(git).isFile() ? /^gitdir: (.*)$/m.exec(fs.readFileSync(git, 'utf8'))?.[1] : undefined;
      const main = pointer ? /^(.*)\/\.git\/worktrees\/[^/]+$/.exec(path.resolve(d, pointer.trim()))?.[1] : undefined;
      dirs.push(main ?? d);
      break;
    }
    if (path.dirname(d) === d) break;
  }
  return [...new Set(dirs)];
}

/** A `[projects."<dir>"]` header line's folder, or null. */
function projectHeader(line: string): string | null {
  const m = /^\s*\[\s*projects\s*\.\s*("(?:[^"\\]|\\.)*"|'[^']*')\s*\]\s*(#.*)?$/.exec(line);
  if (!m) return null;
  const key = m[1]!;
  if (key.startsWith("'")) return key.slice(1, -1);
  try {
    return JSON.parse(key) as string;
  } catch {
    return null;
  }
}

/** `config` with each of `dirs` trusted: its table's trust_level replaced, or a table appended. */
export function trusting(config: string, dirs: readonly string[]): string {
  const ours = new Set(dirs);
  const found = new Set<string>();
  let current: string | null = null;
  const out: string[] = [];
  for (const line of config.split('\n')) {
    const header = /^\s*\[/.test(line);
    if (header) current = projectHeader(line);
    const mine = current !== null && ours.has(current);
    if (mine && !header && /^\s*trust_level\s*=/.test(line)) continue;
    out.push(line);
    if (mine && header) {
      out.push('trust_level = "trusted"');
      found.add(current!);
    }
  }
  const text = out.join('\n');
  const added = dirs.filter((d) => !found.has(d)).map((d) => `\n[projects.${JSON.stringify(d)}]\ntrust_level = "trusted"\n`).join('');
  return added && text !== '' && !text.endsWith('\n') ? `${text}\n${added}` : text + added;
}
