/**
 * The sandbox a session starts in. Always on, and closed by default: when no provider can enforce
 * the policy, the session is refused before any agent process exists. `best_effort` trades that
 * for a loud warning, and may mean no sandbox at all.
 */
import fs from 'node:fs';
import path from 'node:path';

import { makePlaceholders } from './guard.js';
import { homeDir, type Policy } from './policy.js';
import { INSTALL, bwrapArgv, landrunArgv, type LaunchContext, type Probe, type ProviderName } from './providers.js';
import { within } from './paths.js';
import { findOnPath, resolveSession, sessionTmpDir, type Resolved, type SessionContext } from './resolve.js';

export class SandboxRefused extends Error {
  override name = 'SandboxRefused';
  constructor(
    message: string,
    /** What to do, in a few words (a 9P error has room for little more). */
    readonly fix: string,
  ) {
    super(message);
  }
}

export interface Wrapped {
  provider: ProviderName | 'none';
  /** Exec this directly, in `cwd`. */
  argv: string[];
  /**
   * The directory to start `argv` in: the session's. landrun has no chdir of its own, so every
   * caller (tmux, a test's spawn) must start the wrapper there.
   */
  cwd: string;
  /** Start it with exactly these variables (plus, for bwrap, the `inherited` ones it unsets). */
  env: Record<string, string>;
  /** For the session's err file and stderr: what is not enforced. */
  warnings: string[];
  resolved: Resolved;
}

interface Choice {
  provider: ProviderName | 'none';
  warnings: string[];
  /** bwrap in best-effort mode with a port list it cannot express: share the network. */
  shareNetAnyway?: boolean;
  /** landrun without unix-socket control, in best-effort mode. */
  landrunBestEffort?: boolean;
}

const UNIX_ESCAPE =
  'landrun on this kernel (Landlock below ABI 9) cannot stop the agent connecting to unix sockets by path: ' +
  "it could drive the tmux server, which runs outside the sandbox, or other sessions through $NAMESPACE/agent";

function refusal(policy: Policy, reasons: string[], fix: string, shortFix: string): SandboxRefused {
  return new SandboxRefused(
    [
      `sandbox: no provider can enforce ${policy.file}, so the agent was not started:`,
      ...reasons.map((r) => `  - ${r}`),
      `Fix: ${fix}`,
      `Or set general.best_effort: true in ${policy.file} to start anyway with a warning; the agent may then run with NO sandbox, able to read and change all your files.`,
    ].join('\n'),
    shortFix,
  );
}

/** Which provider a session gets, or the refusal that says why none will do. */
export function chooseProvider(policy: Policy, probe: Probe): Choice {
  const net = policy.network;
  const wantsPorts = net.enabled && !net.unrestricted && (net.connectTcp.length > 0 || net.bindTcp.length > 0);
  const portsProblem = 'bubblewrap cannot restrict TCP ports; install landrun or set network.unrestricted';
  const reasons: string[] = [];
  const bwrapOk = probe.bwrap.usable && !wantsPorts;
  if (!probe.bwrap.usable) reasons.push(`bubblewrap: ${probe.bwrap.problem}`);
  else if (wantsPorts) reasons.push(`bubblewrap: ${portsProblem}`);
  const landrunOk = probe.landrun.usable && probe.landrun.unixScoped;
  if (!probe.landrun.usable) reasons.push(`landrun: ${probe.landrun.problem}`);
  else if (!probe.landrun.unixScoped) reasons.push(`landrun ${probe.landrun.version ?? ''}: ${UNIX_ESCAPE}`.replace('  ', ' '));

  const allowed: ProviderName[] = policy.provider === 'auto' ? ['bwrap', 'landrun'] : [policy.provider];
  for (const name of allowed) {
    if (name === 'bwrap' && bwrapOk) return { provider: 'bwrap', warnings: [] };
    if (name === 'landrun' && landrunOk) return { provider: 'landrun', warnings: [] };
  }
  const relevant = reasons.filter((r) => allowed.some((a) => r.startsWith(a === 'bwrap' ? 'bubblewrap' : 'landrun')));
  if (!policy.bestEffort) {
    let [fix, shortFix] = [`install bubblewrap: ${INSTALL.bwrap}`, 'install bubblewrap'];
    if (wantsPorts) [fix, shortFix] = ['install landrun (>= 0.1.18, on a kernel with Landlock ABI 9), or set network.unrestricted: true', 'install landrun >= 0.1.18 or set network.unrestricted'];
    else if (policy.provider !== 'auto' && (probe.bwrap.usable || landrunOk)) [fix, shortFix] = [`set general.provider: auto in ${policy.file}`, 'set general.provider: auto'];
    throw refusal(policy, relevant, fix, shortFix);
  }
  // Best effort: the strongest thing available, and say what it does not enforce.
  for (const name of allowed) {
    if (name === 'bwrap' && probe.bwrap.usable) {
      return { provider: 'bwrap', shareNetAnyway: true, warnings: [`best_effort: ${portsProblem}; the network is NOT restricted`] };
    }
    if (name === 'landrun' && probe.landrun.usable) {
      return { provider: 'landrun', landrunBestEffort: true, warnings: [`best_effort: ${UNIX_ESCAPE}`] };
    }
  }
  return {
    provider: 'none',
    warnings: [`best_effort: NO SANDBOX: the agent runs with full access to your files and network (${relevant.join('; ')})`],
  };
}

/**
 * The argv and environment that start an agent inside the sandbox `policy` describes. Creates the
 * session's state and temporary directories (0700) first, so they are bound, never skipped;
 * `dryRun` (for `sandbox check`) creates nothing.
 */
export function wrap(
  policy: Policy,
  probe: Probe,
  session: SessionContext,
  launch: Omit<LaunchContext, 'cwd' | 'agentPath'> & { dryRun?: boolean },
): Wrapped {
  const choice = chooseProvider(policy, probe);
  if (!launch.dryRun) fs.mkdirSync(sessionTmpDir(session), { recursive: true, mode: 0o700 });
  const resolved = resolveSession(policy, session);
  const providerPath = choice.provider === 'none' ? null : probe[choice.provider].path!;
  const writable = resolved.paths.find((g) => g.write && g.exists && providerPath && within(providerPath, g.path));
  if (writable) {
    // An agent could replace the sandbox program for the next session.
    throw new SandboxRefused(
      `sandbox: ${providerPath} lies in ${writable.path}, which the agent may write: install it where no policy grants write access`,
      `move ${providerPath} out of the writable ${writable.path}`,
    );
  }
  const ctx: LaunchContext = { ...launch, cwd: session.cwd, agentPath: session.agentPath };
  let argv: string[];
  switch (choice.provider) {
    case 'bwrap': {
      // Made only now, once nothing will refuse the start (and never by `sandbox check`).
      if (!launch.dryRun) makePlaceholders(resolved.protection);
      const net = policy.network;
      argv = bwrapArgv(probe.bwrap.path!, resolved, ctx, net.enabled && (net.unrestricted || choice.shareNetAnyway === true));
      break;
    }
    case 'landrun': {
      // Landlock only adds rights: it cannot take back part of a grant.
      const kept = resolved.protection.paths.find((p) => p.exists || p.placeholder) ?? resolved.protection.sealed.map((p) => ({ path: p }))[0];
      if (kept && !policy.bestEffort) throw new SandboxRefused(landrunCannotProtect(kept.path, session), 'install bubblewrap');
      if (kept) choice.warnings.push(`best_effort: landrun cannot keep protected paths read-only (e.g. ${kept.path}): the agent can plant what runs outside the sandbox`);
      const problems = [
        ...resolved.hidden.map((p) => `landrun cannot hide ${p} inside a grant: the agent could reach the sockets there, which act outside the sandbox`),
      ];
      if (problems.length > 0 && !policy.bestEffort) {
        throw refusal(policy, problems, `narrow the grants that cover them, or install bubblewrap: ${INSTALL.bwrap}`, 'install bubblewrap or narrow the grants');
      }
      choice.warnings.push(...problems.map((p) => `best_effort: ${p}`));
      argv = landrunArgv(probe.landrun.path!, policy, resolved, ctx, choice.landrunBestEffort === true || policy.bestEffort);
      break;
    }
    case 'none': {
      // No sandbox, but still only the listed environment: env(1) unsets the rest by name.
      const unset = launch.inherited.filter((n) => !(n in resolved.env)).flatMap((n) => ['-u', n]);
      argv = unset.length > 0 ? [findOnPath('env', session.env) ?? '/usr/bin/env', ...unset, session.agentPath, ...launch.agentArgs] : [session.agentPath, ...launch.agentArgs];
      break;
    }
  }
  return { provider: choice.provider, argv, cwd: session.cwd, env: resolved.env, warnings: choice.warnings, resolved };
}

/** The refusal, in one 9P error (127 bytes): the path, short, and the fix first. */
function landrunCannotProtect(p: string, session: SessionContext): string {
  const home = homeDir(session.env);
  const short = within(p, session.cwd) ? path.relative(session.cwd, p) || '.' : within(p, home) ? `~/${path.relative(home, p)}` : p;
  const say = (what: string) => `sandbox: landrun cannot keep ${what} read-only: install bubblewrap (anvillm sandbox check)`;
  return Buffer.byteLength(say(short)) <= 127 ? say(short) : say(path.basename(p));
}
