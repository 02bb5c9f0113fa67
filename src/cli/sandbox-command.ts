/** `anvillm sandbox check|show`: the policy file read by the same code the daemon uses at every `new`. */
import path from 'node:path';

import { loadPolicy, stateHome, type Policy } from '../sandbox/policy.js';
import { probe, type Probe } from '../sandbox/providers.js';
import type { Protection } from '../sandbox/guard.js';
import type { Placeholder } from '../sandbox/protected.js';
import { accessName, findOnPath } from '../sandbox/resolve.js';
import { within } from '../sandbox/paths.js';
import { SandboxRefused, wrap } from '../sandbox/sandbox.js';
import { worktreeGrants } from '../worktree/grants.js';
import { listRecords } from '../worktree/worktree.js';
import { UsageError, type CommandIO } from './io.js';

export const SANDBOX_USAGE = `usage: anvillm sandbox check [--cwd DIR] [--agent PROGRAM]
       anvillm sandbox show

check   what a session would get: provider, Landlock ABI, each path and its access, the
        environment, and the exact argv; exit 1 when a session would be refused. In a
        worktree session's worktree: what that session gets (its git data too)
show    the policy file's path and a summary of it`;

function quote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "''")}'`;
}

function networkSummary(policy: Policy): string {
  const net = policy.network;
  if (!net.enabled) return 'disabled (no TCP)';
  if (net.unrestricted) return 'unrestricted';
  const ranges = (rs: { from: number; to: number }[]) => rs.map((r) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`)).join(',') || 'none';
  return `TCP connect ${ranges(net.connectTcp)}; bind ${ranges(net.bindTcp)}`;
}

function providerLine(p: Probe['bwrap']): string {
  return p.usable ? `${p.version ?? 'installed'} (${p.path})` : (p.problem ?? 'unusable');
}

async function check(args: string[], io: CommandIO): Promise<number> {
  let cwd = process.cwd();
  let agent: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--cwd' && args[i + 1]) cwd = path.resolve(args[++i]!);
    else if (a === '--agent' && args[i + 1]) agent = args[++i];
    else throw new UsageError(`sandbox check: unexpected argument ${a}\n${SANDBOX_USAGE}`);
  }
  const env = io.env;
  const agentPath = agent
    ? findOnPath(agent, env)
    : (findOnPath('claude', env) ?? findOnPath('kiro-cli', env) ?? findOnPath('sh', env));
  if (!agentPath) throw new Error(`sandbox check: ${agent} is not on PATH`);
  const policy = loadPolicy(env);
  const found = await probe(env);
  const out = io.stdout;
  out(`policy:    ${policy.file} (${policy.bestEffort ? 'best effort' : 'strict'}, provider: ${policy.provider})`);
  out(`bwrap:     ${providerLine(found.bwrap)}`);
  out(`landrun:   ${providerLine(found.landrun)}${found.landrun.usable && !found.landrun.unixScoped ? ' — cannot control unix sockets' : ''}`);
  out(`kernel:    ${found.kernel} (Landlock ABI ${found.landlockAbi ?? 'none'}, estimated from the release)`);
  out(`network:   ${networkSummary(policy)}`);
  const worktree = listRecords(env).find((r) => within(cwd, r.path));
  const extra = worktree ? worktreeGrants(env, worktree) : undefined;
  if (worktree) out(`worktree:  ${worktree.path} (branch ${worktree.branch}, from ${worktree.checkout})`);
  const session = { cwd, stateDir: path.join(stateHome(env), 'anvillm', 'sessions', 'SESSION-ID'), agentPath, env, ...(extra ? { extra } : {}) };
  let wrapped;
  try {
    wrapped = wrap(policy, found, session, { agentArgs: [], inherited: [], dryRun: true });
  } catch (e) {
    if (!(e instanceof SandboxRefused)) throw e;
    out(`provider:  none — a session would be REFUSED`);
    io.stderr(e.message);
    return 1;
  }
  out(`provider:  ${wrapped.provider}`);
  for (const w of wrapped.warnings) out(`WARNING:   ${w}`);
  out(`paths:`);
  for (const g of wrapped.resolved.paths) {
    const perSession = g.path.startsWith(session.stateDir);
    const state = g.exists ? '' : perSession ? '  (made for each session)' : '  (does not exist: skipped)';
    out(`  ${accessName(g).padEnd(4)} ${g.path.padEnd(40)} ${g.origin}${state}`);
  }
  for (const p of wrapped.resolved.hidden) out(`  -    ${p.padEnd(40)} hidden: its sockets act outside the sandbox`);
  protection(wrapped.resolved.protection, out);
  out(`env:       ${Object.keys(wrapped.env).sort().join(' ')}`);
  out(`argv:      ${wrapped.argv.map(quote).join(' ')}`);
  out(`cwd:       ${wrapped.cwd} (the argv starts here: landrun has no chdir)`);
  return 0;
}

const ABSENT = {
  made: (p: Placeholder) => (p.kind === 'dir' ? 'made as an empty directory' : `made as a file holding ${JSON.stringify(p.content)}`),
  sealed: 'cannot be made: the home directory is sealed',
  open: 'not protected until it exists',
};

/** The protected paths (src/sandbox/protected.ts) this session's grants reach, and those the policy releases. */
function protection(p: Protection, out: (line: string) => void): void {
  out(`protected: read-only inside the writable grants, as programs outside the sandbox run them (release: filesystem.unprotect)`);
  for (const dir of p.sealed) out(`  seal ${dir.padEnd(40)} nothing new at its top: each entry bound on its own`);
  for (const x of p.paths) {
    const absent = x.exists ? '' : x.placeholder ? ` (absent: ${ABSENT.made(x.placeholder)})` : ` (absent: ${ABSENT[x.absent ?? 'open']})`;
    out(`  ${x.exists || x.placeholder ? 'ro  ' : '-   '} ${x.path.padEnd(40)} ${x.why}${absent}`);
  }
  for (const r of p.released) out(`  rw   ${r.path.padEnd(40)} RELEASED by ${r.origin}: ${r.why}`);
}

function show(io: CommandIO): number {
  const policy = loadPolicy(io.env);
  const count = (access: string) => policy.paths.filter((p) => p.access === access).length;
  io.stdout(`${policy.file}`);
  io.stdout(`mode:      ${policy.bestEffort ? 'best effort (may run with a weaker sandbox, or none)' : 'strict (refuse sessions it cannot sandbox)'}`);
  io.stdout(`provider:  ${policy.provider}`);
  io.stdout(`paths:     ${['rw', 'rwx', 'ro', 'rox'].map((a) => `${count(a)} ${a}`).join(', ')}`);
  io.stdout(`network:   ${networkSummary(policy)}`);
  io.stdout(`env:       ${policy.env.join(' ')}`);
  return 0;
}

export async function sandboxCommand(args: string[], io: CommandIO): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h' || rest.includes('--help')) {
    io.stdout(SANDBOX_USAGE);
    return sub === undefined ? 2 : 0;
  }
  if (sub === 'check') return check(rest, io);
  if (sub === 'show') {
    if (rest.length > 0) throw new UsageError(SANDBOX_USAGE);
    return show(io);
  }
  throw new UsageError(`sandbox: unknown command ${sub}\n${SANDBOX_USAGE}`);
}
