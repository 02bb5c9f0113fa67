/**
 * Turns a policy into what one session gets: templates expanded against the session, the paths
 * every session needs added, accesses merged per path, and the environment picked by name.
 */
import fs from 'node:fs';
import path from 'node:path';

import { namespaceDir } from '../ninep/namespace.js';
import { guard, type Protection } from './guard.js';
import { within } from './paths.js';
import { type Access, type Policy, PolicyError, configHome, homeDir, stateHome } from './policy.js';

type Env = NodeJS.ProcessEnv;

export interface SessionContext {
  /** The session's working directory (absolute). */
  cwd: string;
  /** $XDG_STATE_HOME/anvillm/sessions/<id>: always read-write (hooks write there). */
  stateDir: string;
  /** The agent program, absolute (resolved on PATH by the caller). */
  agentPath: string;
  /** The backend's pass_env: names, or prefixes ending in `*`. */
  passEnv?: string[];
  /** The daemon's environment: values for templates and for the variables passed in. */
  env: Env;
  /**
   * The session's private temporary directory, for {TMPDIR} and $TMPDIR; default <stateDir>/tmp,
   * so a session never needs all of /tmp (where other sessions and users keep files).
   */
  tmpDir?: string;
  /** Computed for this session beyond the policy (src/worktree: a worktree session's git data). */
  extra?: SessionExtra;
}

/** A grant one session gets beyond the policy. */
export interface ExtraGrant {
  path: string;
  access: Access;
  /** Shown by `sandbox check`: why the session has it. */
  origin: string;
}

export interface SessionExtra {
  grants: ExtraGrant[];
  /** Kept read-only wherever a writable grant would include them; grants inside them still apply. */
  readOnly: string[];
}

export interface GrantedPath {
  path: string;
  write: boolean;
  exec: boolean;
  exists: boolean;
  /** Where the grant comes from: `file:line`, or why every session has it. */
  origin: string;
}

export interface Resolved {
  paths: GrantedPath[];
  /**
   * Existing directories inside a grant that the agent must not see at all: sockets that run
   * commands outside the sandbox (the tmux server's, $NAMESPACE/agent, the user's session bus in
   * $XDG_RUNTIME_DIR) and other sessions' state. Granted paths inside them stay granted.
   */
  hidden: string[];
  /** What stays read-only inside the writable grants (protected.ts), and what the policy releases. */
  protection: Protection;
  /** Exactly the environment the agent sees. */
  env: Record<string, string>;
}

const TEMPLATE = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export function sessionTmpDir(ctx: Pick<SessionContext, 'stateDir' | 'tmpDir'>): string {
  return ctx.tmpDir ?? path.join(ctx.stateDir, 'tmp');
}

export function expandTemplate(template: string, ctx: SessionContext, where: string): string {
  const env = ctx.env;
  const home = homeDir(env);
  const known: Record<string, string> = {
    CWD: ctx.cwd,
    HOME: home,
    TMPDIR: sessionTmpDir(ctx),
    XDG_CONFIG_HOME: configHome(env),
    XDG_DATA_HOME: env['XDG_DATA_HOME'] || path.join(home, '.local', 'share'),
    XDG_CACHE_HOME: env['XDG_CACHE_HOME'] || path.join(home, '.cache'),
    XDG_STATE_HOME: stateHome(env),
  };
  const raw = template.startsWith('~/') ? `{HOME}${template.slice(1)}` : template;
  const out = raw.replace(TEMPLATE, (_m, name: string) => {
    const value = known[name] ?? env[name];
    if (!value) throw new PolicyError(`${where}: {${name}} is not defined: set $${name} or remove the path`);
    return value;
  });
  if (!path.isAbsolute(out)) throw new PolicyError(`${where}: "${template}" expands to the relative path "${out}"`);
  return path.normalize(out).replace(/(.)\/$/, '$1');
}

/** The interpreter a script names in its #! line, found the way the kernel and env(1) would. */
function interpreterOf(file: string, env: Env): string | null {
  let head: string;
  try {
    const fd = fs.openSync(file, 'r');
    const buf = Buffer.alloc(256);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    fs.closeSync(fd);
    head = buf.subarray(0, n).toString('latin1');
  } catch {
    return null;
  }
  if (!head.startsWith('#!')) return null;
  const words = head.slice(2).split('\n')[0]!.trim().split(/\s+/);
  if (words[0]?.endsWith('/env')) {
    const prog = words.slice(1).find((w) => !w.startsWith('-'));
    return prog ? findOnPath(prog, env) : null;
  }
  return words[0] ?? null;
}

/** The package.json `bin` of `dir` names `file`. */
function declaresBin(dir: string, file: string): boolean {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { bin?: unknown };
    const bins = typeof pkg.bin === 'string' ? [pkg.bin] : pkg.bin && typeof pkg.bin === 'object' ? Object.values(pkg.bin) : [];
    return bins.some((b) => typeof b === 'string' && fs.existsSync(path.join(dir, b)) && fs.realpathSync(path.join(dir, b)) === file);
  } catch {
    return false;
  }
}

/**
 * What the agent program needs to run, read+execute: its real directory, its interpreter's, and
 * its whole installed package. Under node_modules (npm -g under any prefix, nvm, volta, pnpm's
 * .pnpm store, a project's node_modules/.bin) that is the outermost node_modules tree, where its
 * launcher finds its optional platform packages; elsewhere the nearest directory whose
 * package.json declares the program in `bin`.
 */
export function agentPackage(agentPath: string, env: Env): [string, string][] {
  const real = fs.realpathSync(agentPath);
  const out: [string, string][] = [[path.dirname(real), 'the agent program']];
  const interpreter = interpreterOf(real, env);
  if (interpreter && fs.existsSync(interpreter)) out.push([path.dirname(fs.realpathSync(interpreter)), "the agent's interpreter"]);
  const at = real.indexOf('/node_modules/');
  if (at >= 0) {
    out.push([real.slice(0, at + '/node_modules'.length), "the agent's installed package and its platform packages"]);
    return out;
  }
  const home = homeDir(env);
  for (let dir = path.dirname(real), up = 0; up < 4 && dir !== '/' && dir !== home; dir = path.dirname(dir), up++) {
    if (declaresBin(dir, real)) {
      out.push([dir, "the agent's installed package"]);
      break;
    }
  }
  return out;
}

/**
 * The absolute, real path of `prog` on PATH. Relative PATH entries (".", "") are skipped: they
 * would find whatever sits in the daemon's working directory.
 */
export function findOnPath(prog: string, env: Env): string | null {
  if (prog.includes('/')) return path.isAbsolute(prog) && fs.existsSync(prog) ? fs.realpathSync(prog) : null;
  for (const dir of (env['PATH'] ?? '').split(':')) {
    if (!path.isAbsolute(dir)) continue;
    const candidate = path.join(dir, prog);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return fs.realpathSync(candidate);
    } catch {
      // not here
    }
  }
  return null;
}

/** The landrun-style name of a grant's access: ro, rox, rw, rwx. */
export function accessName(g: Pick<GrantedPath, 'write' | 'exec'>): Access {
  return g.write ? (g.exec ? 'rwx' : 'rw') : g.exec ? 'rox' : 'ro';
}

/** Directories no session may see, wherever a grant would include them. */
function sensitiveDirs(ctx: SessionContext): string[] {
  const env = ctx.env;
  const uid = process.getuid?.() ?? 0;
  const dirs = [
    namespaceDir(env),
    env['ANVILLM_TMUX_SOCKET'] ? path.dirname(env['ANVILLM_TMUX_SOCKET']) : path.join(env['TMUX_TMPDIR'] || '/tmp', `tmux-${uid}`),
    path.join(stateHome(env), 'anvillm'),
  ];
  if (env['XDG_RUNTIME_DIR']) dirs.push(env['XDG_RUNTIME_DIR']);
  return dirs.map((d) => path.resolve(d));
}

/** Names in `patterns` (a trailing * is a prefix) that are set in `env`. */
export function selectEnv(patterns: string[], env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pattern of patterns) {
    if (pattern.endsWith('*')) {
      const prefix = pattern.slice(0, -1);
      for (const [name, value] of Object.entries(env)) if (name.startsWith(prefix) && value !== undefined) out[name] = value;
    } else if (env[pattern] !== undefined) {
      out[pattern] = env[pattern]!;
    }
  }
  return out;
}

export function resolveSession(policy: Policy, ctx: SessionContext): Resolved {
  const byPath = new Map<string, GrantedPath>();
  const grant = (p: string, access: Access, origin: string) => {
    const write = access === 'rw' || access === 'rwx';
    const exec = access === 'rox' || access === 'rwx';
    const had = byPath.get(p);
    if (had) {
      had.write ||= write;
      had.exec ||= exec;
      return;
    }
    byPath.set(p, { path: p, write, exec, exists: fs.existsSync(p), origin });
  };
  for (const rule of policy.paths) {
    const where = `${policy.file}:${rule.line}: filesystem.${rule.access}`;
    grant(expandTemplate(rule.template, ctx, where), rule.access, `${path.basename(policy.file)}:${rule.line}`);
  }
  grant(path.resolve(ctx.cwd), 'rw', 'the session directory');
  grant(ctx.stateDir, 'rw', 'the session state directory');
  grant(sessionTmpDir(ctx), 'rw', 'the session temporary directory');
  for (const [dir, why] of agentPackage(ctx.agentPath, ctx.env)) grant(dir, 'rox', why);
  for (const g of ctx.extra?.grants ?? []) grant(g.path, g.access, g.origin);

  const env = selectEnv([...policy.env, ...(ctx.passEnv ?? [])], ctx.env);
  env['TMPDIR'] = sessionTmpDir(ctx);
  const paths = [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const hidden = sensitiveDirs(ctx).filter((d) => fs.existsSync(d) && paths.some((g) => g.exists && within(d, g.path)));
  const unprotect = policy.unprotect.map((u) => ({
    path: expandTemplate(u.template, ctx, `${policy.file}:${u.line}: filesystem.unprotect`),
    origin: `${path.basename(policy.file)}:${u.line}`,
  }));
  const protection = guard({ grants: paths, hidden, cwd: path.resolve(ctx.cwd), private: [ctx.stateDir, sessionTmpDir(ctx)], env: ctx.env, unprotect });
  keepExtraReadOnly(protection, paths, ctx.extra);
  return { paths, hidden, protection, env };
}

/**
 * A worktree session's read-only paths (its checkout, the other worktrees, where git looks) join
 * the protected ones where a writable grant reaches them; the session's own writable grants
 * inside them (its git data) are bound again after them. Only these: a mandatory path is never
 * reopened.
 */
function keepExtraReadOnly(protection: Protection, paths: GrantedPath[], extra: SessionExtra | undefined): void {
  const writable = paths.filter((g) => g.write && g.exists);
  for (const p of extra?.readOnly ?? []) {
    if (!fs.existsSync(p) || !writable.some((g) => within(p, g.path)) || protection.paths.some((q) => q.path === p)) continue;
    const reopened = (extra?.grants ?? []).filter((g) => g.access.startsWith('rw') && g.path !== p && within(g.path, p) && fs.existsSync(g.path)).map((g) => g.path);
    protection.paths.push({ path: p, why: 'a worktree session: your checkout, the other worktrees, where git looks', exists: true, placeholder: null, reopened });
  }
}
