/**
 * `anvillm serve`: the daemon in the foreground. Posts agent/ in the name space, re-adopts the
 * sessions a previous daemon left running, logs to stderr; SIGTERM or SIGINT shuts it down
 * cleanly and the agents keep running in tmux. One daemon per user: a lock in
 * $XDG_STATE_HOME/anvillm/daemon.lock holds the pid of the one serving.
 */
import fs from 'node:fs';
import path from 'node:path';

import { agentTree } from '../agentfs/agentfs.js';
import { namespaceDir, post } from '../ninep/namespace.js';
import { Server } from '../ninep/server.js';
import { stateHome } from '../sandbox/policy.js';
import { SessionManager } from '../session/manager.js';
import { startAssist } from './assist-launch.js';
import { boundedLog } from './bounded-log.js';
import { UsageError, type CommandIO } from './io.js';

export const SERVE_USAGE = `usage: anvillm serve [--assist]

Runs the daemon in the foreground: serves agent/ as $NAMESPACE/agent, logs to stderr.
--assist: also runs Assist, the Acme UI, when acme is running (npm start does).
SIGTERM or SIGINT stops it; the agents keep running in tmux and the next daemon re-adopts them.`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the per-user lock, or throws saying who holds it and where it serves. */
export function takeLock(env: NodeJS.ProcessEnv): { file: string; release(): void } {
  const dir = path.join(stateHome(env), 'anvillm');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, 'daemon.lock');
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return {
        file,
        release: () => {
          if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.rmSync(file, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const text = fs.readFileSync(file, 'utf8');
      const pid = Number(text.trim());
      if (pid > 0 && pid !== process.pid && alive(pid)) {
        throw new Error(`a daemon is already running (pid ${pid}), serving ${path.join(namespaceDir(env), 'agent')}`);
      }
      // Left by a daemon that died. Two starting daemons may both see it: a rename moves it away
      // once, and a lock that is no longer the stale one is put back.
      const aside = `${file}.${process.pid}`;
      try {
        fs.renameSync(file, aside);
      } catch {
        continue; // the other one moved it
      }
      if (fs.readFileSync(aside, 'utf8') !== text) fs.renameSync(aside, file);
      else fs.rmSync(aside, { force: true });
    }
  }
  throw new Error(`cannot take the lock ${file}`);
}

export async function serveCommand(args: string[], io: CommandIO): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout(SERVE_USAGE);
    return 0;
  }
  const withAssist = args[0] === '--assist';
  if (args.length > (withAssist ? 1 : 0)) throw new UsageError(SERVE_USAGE);
  const env = io.env;
  const lock = takeLock(env);
  const manager = new SessionManager({ env });
  manager.subscribe((e) => io.stderr(`anvillm: ${e.id} ${e.kind}${e.kind === 'state' ? ` ${e.from} -> ${e.to}` : ''}`));
  let posted;
  try {
    await manager.adopt();
    // What clients cause is logged within bounds: a client in a loop cannot fill the disk.
    const clientLog = boundedLog((line) => io.stderr(`anvillm: ${line}`));
    const server = new Server(agentTree(manager, { log: clientLog }), { log: clientLog });
    posted = await post('agent', server, env);
    io.stderr(`anvillm: serving ${posted.path} (${manager.list().length} sessions)`);
    if (withAssist) await startAssist(env, io);
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    io.stderr('anvillm: stopping; the agents keep running in tmux');
    server.closeAll();
    return 0;
  } finally {
    await posted?.close();
    await manager.close();
    lock.release();
  }
}
