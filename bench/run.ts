/**
 * Benchmark of the 9P library: `npm run bench` (or `node dist/bench/run.js` after a build).
 *
 *   --quick            1 s per test instead of 1.5 s (BENCH_SECONDS=N sets it to N seconds)
 *   --no-pin           leave CPU placement to the scheduler (by default the server and the load
 *                      generator are pinned to CPUs of their own with taskset, when there is one)
 *   --profile[=DIR]    run the server under `node --cpu-prof`, profile written to DIR
 *                      (default bench-profiles/), to open in Chrome DevTools or speedscope
 *
 * The server (bench/server.ts: a ramfs with the files pre-created) runs as a process of its own on a
 * unix socket; this process is only the load generator, a raw client with pre-encoded requests
 * and one request in flight per connection, so that the figures measure the server. The "via
 * Client library" lines time the same round trip through our Client, which Assist and the CLI use.
 *
 * Both processes are pinned (taskset) to CPUs of their own, then, for the 1-connection lines, to
 * one shared CPU: a request/reply ping-pong across CPUs pays a wake-up of an idle CPU per message,
 * which in a VM costs several times the server's own work, and left to the scheduler the figures
 * flip between the two cases from run to run.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client } from '../src/ninep/client.js';
import { IOHDRSZ } from '../src/ninep/constants.js';
import { BIG_SIZE, MSIZE, RawConn, SMALL_CONTENTS, SMALL_FILE, bigContents, bigRound, runRounds, smallRound } from './ninep.js';
import { benchClaude } from './claude.js';
import { benchRealAgents } from './real-agents.js';
import { benchSessions } from './sessions.js';

interface Options {
  seconds: number;
  warmup: number;
  profileDir: string | null;
  pin: boolean;
}

function parseOptions(argv: string[]): Options {
  let seconds = 1.5;
  let warmup = 0.5;
  let profileDir: string | null = null;
  let pin = true;
  for (const arg of argv) {
    if (arg === '--quick') {
      seconds = 1;
      warmup = 0.25;
    } else if (arg === '--profile') {
      profileDir = 'bench-profiles';
    } else if (arg.startsWith('--profile=')) {
      profileDir = arg.slice('--profile='.length);
    } else if (arg === '--no-pin') {
      pin = false;
    } else if (arg === '-h' || arg === '--help') {
      console.log('usage: npm run bench -- [--quick] [--no-pin] [--profile[=DIR]]   (env BENCH_SECONDS=N: seconds per test)');
      process.exit(0);
    } else {
      throw new Error(`unknown argument ${arg} (try --help)`);
    }
  }
  const env = process.env['BENCH_SECONDS'];
  if (env) {
    seconds = Number(env);
    if (!(seconds > 0)) throw new Error(`BENCH_SECONDS=${env} is not a positive number`);
    warmup = Math.min(0.5, seconds / 4);
  }
  return { seconds, warmup, profileDir: profileDir && path.resolve(profileDir), pin };
}

// ---- the server process -------------------------------------------------------------------

interface ServerProcess {
  child: ChildProcess;
  stop(): Promise<void>;
}

async function startServer(socketPath: string, profileDir: string | null): Promise<ServerProcess> {
  const script = fileURLToPath(new URL('./server.js', import.meta.url));
  const nodeArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const child = spawn(process.execPath, [...nodeArgs, script, socketPath], { stdio: ['pipe', 'pipe', 'inherit'] });
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

  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error('bench server did not start within 15 s')), 15000);
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

/** CPU seconds (user+system) the process has used so far, from /proc; null where there is none. */
function cpuSecondsOf(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of proc(5), utime and stime, in clock ticks (USER_HZ, 100 on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

// ---- measuring ---------------------------------------------------------------------------

interface Figures {
  perSecond: number;
  rounds: number;
  bytes: number;
  seconds: number;
  latencies: number[];
  serverCpu: number | null;
  clientCpu: number;
}

/** Runs `body` for its measured period, with the CPU both processes used meanwhile. */
async function measure(
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

function percentileUs(latenciesNs: number[], q: number): number {
  const sorted = Float64Array.from(latenciesNs).sort();
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]! / 1000;
}

async function connectAll(socketPath: string, n: number, msize = MSIZE): Promise<RawConn[]> {
  return Promise.all(Array.from({ length: n }, () => RawConn.connect(socketPath, msize)));
}

/** The same round through the Client library: open (walk+open), read, close (clunk). */
async function clientRounds(client: Client, seconds: number): Promise<{ rounds: number; bytes: number; seconds: number; latencies: number[] }> {
  const want = Buffer.byteLength(SMALL_CONTENTS);
  const latencies: number[] = [];
  let rounds = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  for (;;) {
    const t0 = process.hrtime.bigint();
    const f = await client.open(SMALL_FILE);
    const data = await f.read(8192);
    await f.close();
    if (data.length !== want) throw new Error(`Client read ${data.length} bytes of ${SMALL_FILE}, expected ${want}`);
    const t = process.hrtime.bigint();
    latencies.push(Number(t - t0));
    rounds++;
    if (t >= deadline) return { rounds, bytes: rounds * want, seconds: Number(t - start) / 1e9, latencies };
  }
}

// ---- output ---------------------------------------------------------------------------------

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const pad = (s: string, n: number) => s + ' '.repeat(Math.max(1, n - s.length));
const lpad = (s: string, n: number) => ' '.repeat(Math.max(0, n - s.length)) + s;
/** CPU use of both processes, and the server's CPU time per round (user + system, from /proc). */
const cpu = (f: Figures, perRound = true) => {
  const server =
    f.serverCpu === null
      ? '?'
      : `${Math.round(f.serverCpu * 100)}%` + (perRound ? `, ${int((f.serverCpu * f.seconds * 1e6) / f.rounds)} µs/round` : '');
  return `server CPU ${server}; client ${Math.round(f.clientCpu * 100)}%`;
};
const lat = (f: Figures) => `p50 ${lpad(int(percentileUs(f.latencies, 0.5)), 4)} µs  p99 ${lpad(int(percentileUs(f.latencies, 0.99)), 5)} µs`;

let indent = '  ';
function line(label: string, value: string, rest: string): void {
  console.log(`${indent}${pad(label + ':', 42 - indent.length)}${lpad(value, 16)}   ${rest}`);
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
interface Placement {
  separate(): void;
  shared(): void;
  describe: string;
  canShare: boolean;
}

function placement(serverPid: number, wanted: boolean): Placement {
  const cpus = allowedCpus();
  const none: Placement = { separate() {}, shared() {}, describe: 'processes placed by the OS scheduler', canShare: false };
  if (!wanted || !cpus || cpus.length < 2) return none;
  const [a, b] = [cpus[0]!, cpus[1]!];
  if (!pin(serverPid, a) || !pin(process.pid, b)) return none;
  return {
    separate() {
      pin(serverPid, a);
      pin(process.pid, b);
    },
    shared() {
      pin(serverPid, a);
      pin(process.pid, a);
    },
    describe: `server pinned to CPU ${a}, load generator to CPU ${b}`,
    canShare: true,
  };
}

// ---- main -----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anvillm-bench-'));
  const socketPath = path.join(dir, 'ramfs');
  let server: ServerProcess | null = null;
  const removeDir = () => fs.rmSync(dir, { recursive: true, force: true });
  process.on('exit', removeDir); // also on process.exit; the server is killed by its own exit hook
  // `npm run bench | head`: a closed stdout ends the bench quietly, the server and the socket with it.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => process.exit(e.code === 'EPIPE' ? 0 : 1));
  const interrupted = () => {
    void (server?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    server = await startServer(socketPath, opts.profileDir);
    const pid = server.child.pid!;
    const { seconds, warmup } = opts;
    const place = placement(pid, opts.pin);
    console.log(`9p server (ramfs, separate process, unix socket; ${seconds} s per test after ${warmup} s warm-up)`);
    console.log(`  Node ${process.versions.node}, ${os.cpus().length} CPUs, ${place.describe}`);

    const small = smallRound();
    const smallTest = async (label: string, n: number) => {
      const conns = await connectAll(socketPath, n);
      try {
        await runRounds(conns, warmup, small);
        const f = await measure(pid, () => runRounds(conns, seconds, small, true));
        line(label, `${int(f.perSecond)} rounds/s`, `${lat(f)}   (${cpu(f)})`);
      } finally {
        for (const c of conns) c.close();
      }
    };
    const clientTest = async (label: string) => {
      const client = await Client.dial(`unix!${socketPath}`);
      try {
        await clientRounds(client, warmup);
        const f = await measure(pid, () => clientRounds(client, seconds));
        line(label, `${int(f.perSecond)} rounds/s`, `${lat(f)}   (${cpu(f)})`);
      } finally {
        client.close();
      }
    };

    // 1 and 2: walk+open+read+clunk of the 13-byte file, raw client.
    place.separate();
    await smallTest('walk+open+read+clunk, 1 connection', 1);
    await smallTest('walk+open+read+clunk, 8 connections', 8);

    // 3: reading the 1 MiB file, msize as negotiated. One checked round first, outside the timing.
    const [big] = await connectAll(socketPath, 1);
    try {
      const msize = big!.msize;
      await runRounds([big!], 0, bigRound(msize, bigContents()));
      const bigR = bigRound(msize, null);
      await runRounds([big!], warmup, bigR);
      const f = await measure(pid, () => runRounds([big!], seconds, bigR));
      const reads = Math.floor(BIG_SIZE / (msize - IOHDRSZ)) + 1;
      line(`read 1 MiB file (msize ${msize})`, `${int(f.bytes / 1e6 / f.seconds)} MB/s`, `${int(f.perSecond)} files/s, ${reads} Treads each   (${cpu(f, false)})`);
    } finally {
      big!.close();
    }

    // 4: the same small round through our Client library.
    await clientTest('via Client library, 1 connection');

    if (place.canShare) {
      place.shared();
      console.log('  the same with server and load generator sharing one CPU (no cross-CPU wake-ups):');
      indent = '    ';
      await smallTest('walk+open+read+clunk, 1 connection', 1);
      await clientTest('via Client library, 1 connection');
    }
    console.log('target (Go original, same machine): 5,000 rounds/s on 1 connection, 18,000 on 8');
  } finally {
    await server?.stop();
  }
  indent = '  ';
  try {
    await benchSessions(line);
    await benchClaude(line);
    await benchRealAgents(line);
  } finally {
    removeDir();
    process.off('exit', removeDir);
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }
  if (opts.profileDir) console.log(`server CPU profile written to ${opts.profileDir}/ (open it in Chrome DevTools or speedscope)`);
}

main().catch((e: unknown) => {
  console.error(`bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
