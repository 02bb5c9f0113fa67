/**
 * `anvillm daemon start|stop|status`: the daemon in the background. start returns once the
 * socket answers (and is a no-op when one already serves); it logs to
 * $XDG_STATE_HOME/anvillm/daemon.log.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { namespaceDir } from '../ninep/namespace.js';
import { AgentClient } from '../protocol/client.js';
import { stateHome } from '../sandbox/policy.js';
import { UsageError, type CommandIO } from './io.js';

export const DAEMON_USAGE = `usage: anvillm daemon start
       anvillm daemon stop [--kill-sessions]
       anvillm daemon status`;

function files(env: NodeJS.ProcessEnv) {
  const dir = path.join(stateHome(env), 'anvillm');
  return { dir, lock: path.join(dir, 'daemon.lock'), log: path.join(dir, 'daemon.log'), socket: path.join(namespaceDir(env), 'agent') };
}

/** The pid of the running daemon, or null. */
function runningPid(env: NodeJS.ProcessEnv): number | null {
  try {
    const pid = Number(fs.readFileSync(files(env).lock, 'utf8').trim());
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

async function answers(env: NodeJS.ProcessEnv): Promise<AgentClient | null> {
  try {
    return await AgentClient.dial(env);
  } catch {
    return null;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function start(io: CommandIO): Promise<number> {
  const f = files(io.env);
  const already = await answers(io.env);
  if (already) {
    already.close();
    io.stdout(`already running (pid ${runningPid(io.env) ?? '?'}), serving ${f.socket}`);
    return 0;
  }
  fs.mkdirSync(f.dir, { recursive: true, mode: 0o700 });
  const log = fs.openSync(f.log, 'a', 0o600);
  const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), 'anvillm.js');
  const child = spawn(process.execPath, [cli, 'serve'], { env: io.env, detached: true, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  let exited: number | null = null;
  child.on('exit', (code) => (exited = code ?? 1));
  for (let i = 0; i < 200 && exited === null; i++) {
    const c = await answers(io.env);
    if (c) {
      c.close();
      child.unref();
      io.stdout(`started (pid ${child.pid}), serving ${f.socket}; log: ${f.log}`);
      return 0;
    }
    await sleep(50);
  }
  child.unref();
  throw new Error(`the daemon did not start: see ${f.log}`);
}

async function stop(args: string[], io: CommandIO): Promise<number> {
  const killSessions = args.includes('--kill-sessions');
  const pid = runningPid(io.env);
  if (pid === null) {
    io.stdout('not running');
    return 0;
  }
  if (killSessions) {
    const c = await answers(io.env);
    if (c) {
      try {
        for (const { id } of await c.list()) await c.ctl(id, ['kill']).catch(() => {});
      } finally {
        c.close();
      }
    }
  }
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 200 && runningPid(io.env) === pid; i++) await sleep(50);
  if (runningPid(io.env) === pid) throw new Error(`the daemon (pid ${pid}) did not stop: kill it with kill ${pid}`);
  io.stdout(killSessions ? 'stopped; its sessions were killed' : 'stopped; the agents keep running in tmux');
  return 0;
}

async function status(io: CommandIO): Promise<number> {
  const f = files(io.env);
  const pid = runningPid(io.env);
  const c = pid === null ? null : await answers(io.env);
  if (pid === null || !c) {
    io.stdout(`not running (start it with: anvillm daemon start)`);
    return 1;
  }
  try {
    const sessions = (await c.list()).length;
    const since = fs.statSync(f.lock).mtime;
    const up = Math.round((Date.now() - since.getTime()) / 1000);
    io.stdout(`pid ${pid}\nsocket ${f.socket}\nsessions ${sessions}\nuptime ${up} s (since ${since.toISOString()})\nlog ${f.log}`);
    return 0;
  } finally {
    c.close();
  }
}

export async function daemonCommand(args: string[], io: CommandIO): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h' || rest.includes('--help')) {
    io.stdout(DAEMON_USAGE);
    return sub === undefined ? 2 : 0;
  }
  if (sub === 'start' && rest.length === 0) return start(io);
  if (sub === 'stop' && rest.every((a) => a === '--kill-sessions')) return stop(rest, io);
  if (sub === 'status' && rest.length === 0) return status(io);
  throw new UsageError(DAEMON_USAGE);
}
