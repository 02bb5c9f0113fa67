/**
 * The two enforcing providers. Each turns what a session is granted into the argv that runs the
 * agent inside it; the daemon execs that argv directly (no shell, no PATH lookup in tmux).
 *
 * bubblewrap shows the agent only what it binds, in its own pid namespace with no capabilities.
 * landrun (Landlock) limits access to paths it does not hide; below Landlock ABI 9 it cannot stop
 * connect() to unix sockets by path, so an agent could drive the tmux server (which runs outside
 * the sandbox) or $NAMESPACE/agent: that escape was measured, and it decides the rules below.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import type { Policy, PortRange } from './policy.js';
import { within } from './paths.js';
import { accessName, findOnPath, type GrantedPath, type Resolved } from './resolve.js';

const run = promisify(execFile);

export type ProviderName = 'bwrap' | 'landrun';

export interface ProviderStatus {
  name: ProviderName;
  path: string | null;
  version: string | null;
  /** Installed and able to sandbox a process on this machine. */
  usable: boolean;
  /** Why not, when it is not usable. */
  problem?: string;
}

export interface Probe {
  bwrap: ProviderStatus;
  /** `unixScoped`: landrun restricts unix-socket connects (landrun >= 0.1.18 on Landlock ABI 9). */
  landrun: ProviderStatus & { unixScoped: boolean };
  kernel: string;
  /** Estimated from the kernel version; null when Landlock predates this kernel. */
  landlockAbi: number | null;
}

export const INSTALL = {
  bwrap: 'sudo apt-get install bubblewrap (Fedora: dnf install bubblewrap; Arch: pacman -S bubblewrap)',
  landrun: 'go install github.com/landlock-lsm/landrun@latest',
} as const;

/** Landlock ABI by the kernel release that introduced it (Documentation/userspace-api/landlock.rst). */
const LANDLOCK_ABI: [number, number, number][] = [
  [6, 15, 7],
  [6, 12, 6],
  [6, 10, 5],
  [6, 7, 4],
  [6, 2, 3],
  [5, 19, 2],
  [5, 13, 1],
];

export function landlockAbiFor(release: string): number | null {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return null;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  for (const [maj, min, abi] of LANDLOCK_ABI) if (major > maj || (major === maj && minor >= min)) return abi;
  return null;
}

function versionAtLeast(version: string | null, want: [number, number, number]): boolean {
  const m = /(\d+)\.(\d+)\.(\d+)/.exec(version ?? '');
  if (!m) return false;
  const have = [Number(m[1]), Number(m[2]), Number(m[3])];
  for (let i = 0; i < 3; i++) if (have[i]! !== want[i]!) return have[i]! > want[i]!;
  return true;
}

async function firstLine(file: string, args: string[]): Promise<string | null> {
  try {
    const { stdout, stderr } = await run(file, args, { timeout: 5000 });
    return (stdout || stderr).trim().split('\n')[0] ?? null;
  } catch {
    return null;
  }
}

async function succeeds(file: string, args: string[]): Promise<string | null> {
  try {
    await run(file, args, { timeout: 5000 });
    return null;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    return (err.stderr || err.message).trim().split('\n')[0] ?? 'failed';
  }
}

/** What this machine can enforce, found by running the providers (a few milliseconds). */
export async function probe(env: NodeJS.ProcessEnv = process.env): Promise<Probe> {
  const kernel = os.release();
  const truePath = findOnPath('true', env) ?? '/bin/true';
  const bwrapPath = findOnPath('bwrap', env);
  const bwrap: ProviderStatus = { name: 'bwrap', path: bwrapPath, version: null, usable: false };
  if (!bwrapPath) {
    bwrap.problem = `not installed (install: ${INSTALL.bwrap})`;
  } else {
    bwrap.version = await firstLine(bwrapPath, ['--version']);
    const failure = await succeeds(bwrapPath, ['--unshare-all', '--die-with-parent', '--ro-bind', '/', '/', '--', truePath]);
    bwrap.usable = failure === null;
    if (failure) bwrap.problem = `cannot create a sandbox here: ${failure} (are unprivileged user namespaces disabled?)`;
  }
  const landrunPath = findOnPath('landrun', env);
  const landrun: Probe['landrun'] = { name: 'landrun', path: landrunPath, version: null, usable: false, unixScoped: false };
  if (!landrunPath) {
    landrun.problem = `not installed (install: ${INSTALL.landrun})`;
  } else {
    landrun.version = await firstLine(landrunPath, ['--version']);
    // landrun >= 0.1.18 demands Landlock ABI 9 in strict mode, the first ABI that controls unix
    // sockets; on an older kernel only its --best-effort mode runs.
    const strictFailure = await succeeds(landrunPath, ['--rox', '/', '--', truePath]);
    const failure = strictFailure && (await succeeds(landrunPath, ['--best-effort', '--rox', '/', '--', truePath]));
    landrun.usable = !failure;
    if (failure) landrun.problem = `cannot sandbox here: ${failure}`;
    landrun.unixScoped = strictFailure === null && versionAtLeast(landrun.version, [0, 1, 18]);
  }
  return { bwrap, landrun, kernel, landlockAbi: landlockAbiFor(kernel) };
}

export interface LaunchContext {
  cwd: string;
  agentPath: string;
  agentArgs: string[];
  /**
   * Names of every variable the wrapper will inherit beyond `env` (a tmux window inherits the
   * server's global and session environment: Tmux.inheritedEnv). bwrap is told to unset each
   * (--clearenv would need the kept values in its argv); landrun clears all it is not told to keep.
   */
  inherited: string[];
}

function portList(ranges: PortRange[]): string {
  const ports: number[] = [];
  for (const r of ranges) for (let p = r.from; p <= r.to; p++) ports.push(p);
  return ports.join(',');
}

/**
 * Grants an ancestor already covers with at least the same access add nothing. bubblewrap does not
 * tell execute from read (`execMatters` false): a read+execute package inside a writable directory
 * must not be bound over it read-only.
 */
function essential(paths: GrantedPath[], execMatters = true): GrantedPath[] {
  const kept: GrantedPath[] = [];
  for (const g of paths) {
    if (!g.exists) continue;
    const covered = kept.some((k) => within(g.path, k.path) && (k.write || !g.write) && (k.exec || !g.exec || !execMatters));
    if (!covered) kept.push(g);
  }
  return kept;
}

/** Paths inside the sandbox's own /proc and /dev: bwrap mounts fresh ones instead of binding. */
function providedByBwrap(p: string): boolean {
  return p === '/proc' || p.startsWith('/proc/') || p === '/dev' || p.startsWith('/dev/');
}

/** Each entry of a sealed directory, bound writable on its own (symlinks are reached through their targets). */
function sealArgs(sealed: string[]): string[] {
  const argv: string[] = [];
  for (const dir of sealed) {
    argv.push('--ro-bind', dir, dir);
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (!e.isSymbolicLink()) argv.push('--bind', path.join(dir, e.name), path.join(dir, e.name));
    }
  }
  return argv;
}

/**
 * Protected paths are bound read-only after every writable bind; each directory between one and
 * the writable mount above it is first bound onto itself (pinned): a mount point cannot be
 * renamed, and renaming a parent (`mv .git/modules/a x; mkdir -p .git/modules/a`) would otherwise
 * leave the read-only bind behind, measured.
 */
function pinArgs(granted: Resolved, mounts: string[]): string[] {
  const pins = new Set<string>();
  for (const p of granted.protection.paths) {
    if (!p.exists) continue;
    const root = mounts.filter((m) => m !== p.path && within(p.path, m)).sort((a, b) => b.length - a.length)[0];
    if (!root) continue;
    for (let a = path.dirname(p.path); a !== root && within(a, root); a = path.dirname(a)) pins.add(a);
  }
  return [...pins].sort((x, y) => x.length - y.length).flatMap((a) => ['--bind', a, a]);
}

export function bwrapArgv(bwrapPath: string, granted: Resolved, launch: LaunchContext, shareNet: boolean): string[] {
  const argv = [bwrapPath, '--unshare-all'];
  if (shareNet) argv.push('--share-net');
  // --new-session: no controlling tty, so nothing inside can push keystrokes into the terminal.
  // --cap-drop ALL: as root, bwrap would otherwise keep capabilities (a test remounted /usr rw).
  argv.push('--die-with-parent', '--new-session', '--cap-drop', 'ALL', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp');
  const mounts: string[] = [];
  for (const g of essential(granted.paths, false)) {
    if (providedByBwrap(g.path)) continue;
    argv.push(g.write ? '--bind' : '--ro-bind', g.path, g.path);
    if (g.write) mounts.push(g.path);
  }
  const sealed = sealArgs(granted.protection.sealed);
  argv.push(...sealed);
  for (let i = 0; i < sealed.length; i += 3) if (sealed[i] === '--bind') mounts.push(sealed[i + 1]!);
  // Before the hiding: a pin binds a whole host directory, which must not bring back what is hidden.
  argv.push(...pinArgs(granted, mounts));
  // Hide what must not be reachable, then give back the grants that lie inside it.
  for (const h of granted.hidden) {
    argv.push('--tmpfs', h);
    for (const g of granted.paths) if (g.exists && g.path !== h && within(g.path, h)) argv.push(g.write ? '--bind' : '--ro-bind', g.path, g.path);
  }
  // Parents first, so a path inside another stays read-only; a worktree session's own git data
  // inside its read-only checkout is bound again at once (`reopened`).
  const readOnly = granted.protection.paths.filter((p) => p.exists).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const p of readOnly) {
    argv.push('--ro-bind', p.path, p.path);
    for (const w of p.reopened ?? []) argv.push('--bind', w, w);
  }
  // Everything not bound is read-only: a write outside the policy fails loudly instead of
  // landing in the sandbox's throw-away root.
  argv.push('--remount-ro', '/', '--chdir', launch.cwd);
  for (const name of launch.inherited) if (!(name in granted.env)) argv.push('--unsetenv', name);
  argv.push('--', launch.agentPath, ...launch.agentArgs);
  return argv;
}

function landrunFlag(g: GrantedPath): string {
  return `--${accessName(g)}`;
}

export function landrunArgv(landrunPath: string, policy: Policy, granted: Resolved, launch: LaunchContext, bestEffort: boolean): string[] {
  const argv = [landrunPath];
  if (bestEffort) argv.push('--best-effort');
  argv.push('--log-level', policy.logLevel);
  if (policy.ldd) argv.push('--ldd');
  if (policy.addExec) argv.push('--add-exec');
  for (const g of essential(granted.paths)) {
    // landrun splits flag values at commas.
    if (g.path.includes(',')) throw new Error(`landrun cannot grant "${g.path}": the path contains a comma`);
    argv.push(landrunFlag(g), g.path);
  }
  const net = policy.network;
  if (net.enabled && net.unrestricted) {
    argv.push('--unrestricted-network');
  } else if (net.enabled) {
    if (net.connectTcp.length > 0) argv.push('--connect-tcp', portList(net.connectTcp));
    if (net.bindTcp.length > 0) argv.push('--bind-tcp', portList(net.bindTcp));
  }
  for (const name of Object.keys(granted.env).sort()) argv.push('--env', name);
  argv.push('--', launch.agentPath, ...launch.agentArgs);
  return argv;
}
