/**
 * The bench's server processes: started from this checkout or another, their CPU time, and the
 * CPUs they and the load generator run on.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const OUR_SERVER = fileURLToPath(new URL('./server.js', import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts `script` (default: our bench/server.js; another checkout's to compare) serving `socketPath`;
 * under `wrapper` (a command and its arguments, node's command line appended) when one is given.
 */
export async function startServer(socketPath: string, profileDir: string | null, script = OUR_SERVER, wrapper: string[] = []): Promise<ServerProcess> {
  const nodeArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const [command, ...args] = [...wrapper, process.execPath, ...nodeArgs, script, socketPath];
  const child = spawn(command!, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const killNow = () => child.kill('SIGKILL');
  process.on('exit', killNow); // whatever happens to us, the server goes too

  let exited = child.exitCode !== null;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM'); // a clean exit, so that --cpu-prof writes its profile
      const timer = setTimeout(killNow, 5000);
      await exit;
      clearTimeout(timer);
    }
    process.off('exit', killNow);
  };

  const startLimit = wrapper.length > 0 ? 120_000 : 15_000; // node under valgrind starts in seconds
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`bench server did not start within ${startLimit / 1000} s`)), startLimit);
      child.once('error', (e) => reject(new Error(`cannot start the bench server: ${e.message}`)));
      child.once('exit', (code, signal) => reject(new Error(`bench server exited (${signal ?? `status ${code}`}) before it was ready`)));
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('ready\n')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return { child, stop };
}

/**
 * CPU seconds the process has used so far, all its threads: from the scheduler's own count
 * (schedstat, in ns) where there is one, else from proc(5)'s utime+stime (clock ticks, 1/100 s,
 * coarse for a short run); null where there is neither.
 */
export function cpuSecondsOf(pid: number): number | null {
  try {
    let ns = 0;
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) ns += Number(fs.readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    return ns / 1e9;
  } catch {
    // no schedstat (kernel without CONFIG_SCHED_INFO): the tick counts
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of proc(5), utime and stime, in clock ticks (USER_HZ, 100 on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

// ---- measuring ------------------------------------------------------------------------------

export interface Figures {
  perSecond: number;
  rounds: number;
  bytes: number;
  seconds: number;
  latencies: number[];
  serverCpu: number | null;
  clientCpu: number;
}

/** Runs `body` for its measured period, with the CPU both processes used meanwhile. */
export async function measure(
  serverPid: number,
  body: () => Promise<{ rounds: number; bytes: number; seconds: number; latencies: number[] }>,
): Promise<Figures> {
  const server0 = cpuSecondsOf(serverPid);
  const client0 = process.cpuUsage();
  const r = await body();
  const server1 = cpuSecondsOf(serverPid);
  const client1 = process.cpuUsage(client0);
  return {
    ...r,
    perSecond: r.rounds / r.seconds,
    serverCpu: server0 !== null && server1 !== null ? (server1 - server0) / r.seconds : null,
    clientCpu: (client1.user + client1.system) / 1e6 / r.seconds,
  };
}

// ---- CPU placement ---------------------------------------------------------------------------

/** The CPUs this process may run on, from /proc/self/status; null where that is unknown. */
function allowedCpus(): number[] | null {
  try {
    const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (!m) return null;
    const cpus: number[] = [];
    for (const part of m[1]!.split(',')) {
      const [a, b] = part.split('-').map(Number);
      for (let c = a!; c <= (b ?? a!); c++) cpus.push(c);
    }
    return cpus;
  } catch {
    return null;
  }
}

/** Pins every thread of `pid` to `cpu` with taskset(1); false when that is not possible. */
function pin(pid: number, cpu: number): boolean {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Where the two processes run. A ping-pong between processes on different CPUs pays a cross-CPU
 * wake-up per message (costly in a VM), one on a shared CPU does not: left to the scheduler the
 * figures flip between the two from run to run, so each test pins both processes.
 */
export interface Placement {
  separate(): void;
  shared(): void;
  describe: string;
  canShare: boolean;
}

/** Read once, before any pinning of ours narrows what /proc/self/status says. */
const ALLOWED_CPUS = allowedCpus();

export function placement(serverPids: number[], wanted: boolean): Placement {
  const cpus = ALLOWED_CPUS;
  const none: Placement = { separate() {}, shared() {}, describe: 'processes placed by the OS scheduler', canShare: false };
  if (!wanted || !cpus || cpus.length < 2) return none;
  const [a, b] = [cpus[0]!, cpus[1]!];
  const pinServers = () => serverPids.every((pid) => pin(pid, a));
  if (!pinServers() || !pin(process.pid, b)) return none;
  return {
    separate() {
      pinServers();
      pin(process.pid, b);
    },
    shared() {
      pinServers();
      pin(process.pid, a);
    },
    describe: `server${serverPids.length > 1 ? 's' : ''} pinned to CPU ${a}, load generator to CPU ${b}`,
    canShare: true,
  };
}

