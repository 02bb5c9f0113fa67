/**
 * Benchmark of the 9P library: `npm run bench` (or `node dist/bench/run.js` after a build).
 *
 *   --quick            1 s per test instead of 3 s (BENCH_SECONDS=N sets it to N seconds)
 *   --profile[=DIR]    run the server under `node --cpu-prof`, profile written to DIR
 *                      (default bench-profiles/), to open in Chrome DevTools or speedscope
 *
 * The server (bench/server.ts: a ramfs with the files pre-created) runs as a process of its own on a
 * unix socket; this process is only the load generator, a raw client with pre-encoded requests
 * and one request in flight per connection, so that the figures measure the server. The last line
 * measures the same round trip through our Client library, which Assist and the CLI use.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client } from '../src/ninep/client.js';
import { BIG_SIZE, MSIZE, RawConn, SMALL_CONTENTS, SMALL_FILE, bigContents, bigRound, runRounds, smallRound } from './ninep.js';

interface Options {
  seconds: number;
  warmup: number;
  profileDir: string | null;
}

function parseOptions(argv: string[]): Options {
  let seconds = 3;
  let warmup = 0.5;
  let profileDir: string | null = null;
  for (const arg of argv) {
    if (arg === '--quick') {
      seconds = 1;
      warmup = 0.25;
    } else if (arg === '--profile') {
      profileDir = 'bench-profiles';
    } else if (arg.startsWith('--profile=')) {
      profileDir = arg.slice('--profile='.length);
    } else if (arg === '-h' || arg === '--help') {
      console.log('usage: npm run bench -- [--quick] [--profile[=DIR]]   (env BENCH_SECONDS=N: seconds per test)');
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
  return { seconds, warmup, profileDir: profileDir && path.resolve(profileDir) };
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
const cpu = (f: Figures) => `server CPU ${f.serverCpu === null ? '?' : `${Math.round(f.serverCpu * 100)}%`}, client ${Math.round(f.clientCpu * 100)}%`;
const lat = (f: Figures) => `p50 ${lpad(int(percentileUs(f.latencies, 0.5)), 4)} µs  p99 ${lpad(int(percentileUs(f.latencies, 0.99)), 5)} µs`;

function line(label: string, value: string, rest: string): void {
  console.log(`  ${pad(label + ':', 40)}${lpad(value, 16)}   ${rest}`);
}

// ---- main -----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anvillm-bench-'));
  const socketPath = path.join(dir, 'ramfs');
  let server: ServerProcess | null = null;
  const interrupted = () => {
    void (server?.stop() ?? Promise.resolve()).finally(() => {
      fs.rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    server = await startServer(socketPath, opts.profileDir);
    const pid = server.child.pid!;
    const { seconds, warmup } = opts;
    console.log(`9p server (ramfs, separate process, unix socket; ${seconds} s per test after ${warmup} s warm-up, ${os.cpus().length} CPUs, Node ${process.versions.node})`);

    // 1 and 2: walk+open+read+clunk of the 13-byte file.
    const small = smallRound();
    const one = await connectAll(socketPath, 1);
    await runRounds(one, warmup, small);
    const f1 = await measure(pid, () => runRounds(one, seconds, small, true));
    line('walk+open+read+clunk, 1 connection', `${int(f1.perSecond)} rounds/s`, `${lat(f1)}   (${cpu(f1)})`);
    for (const c of one) c.close();

    const eight = await connectAll(socketPath, 8);
    await runRounds(eight, warmup, small);
    const f8 = await measure(pid, () => runRounds(eight, seconds, small, true));
    line('walk+open+read+clunk, 8 connections', `${int(f8.perSecond)} rounds/s`, `${lat(f8)}   (${cpu(f8)})`);
    for (const c of eight) c.close();

    // 3: reading the 1 MiB file, msize as negotiated. One checked round first, outside the timing.
    const [big] = await connectAll(socketPath, 1);
    const msize = big!.msize;
    await runRounds([big!], 0, bigRound(msize, bigContents()));
    const bigR = bigRound(msize, null);
    await runRounds([big!], warmup, bigR);
    const fb = await measure(pid, () => runRounds([big!], seconds, bigR));
    const mbps = fb.bytes / 1e6 / fb.seconds;
    line(`read 1 MiB file (msize ${msize})`, `${int(mbps)} MB/s`, `${int(fb.perSecond)} files/s, ${Math.ceil(BIG_SIZE / (msize - 24)) + 1} Treads each   (${cpu(fb)})`);
    big!.close();

    // 4: the same small round through our Client library.
    const client = await Client.dial(`unix!${socketPath}`);
    try {
      await clientRounds(client, warmup);
      const fc = await measure(pid, () => clientRounds(client, seconds));
      line('via Client library, 1 connection', `${int(fc.perSecond)} rounds/s`, `${lat(fc)}   (${cpu(fc)})`);
    } finally {
      client.close();
    }
    console.log('target (Go original, same machine): 5,000 rounds/s on 1 connection, 18,000 on 8');
  } finally {
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }
  if (opts.profileDir) console.log(`server CPU profile written to ${opts.profileDir}/ (open it in Chrome DevTools or speedscope)`);
}

main().catch((e: unknown) => {
  console.error(`bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
