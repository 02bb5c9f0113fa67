/**
 * Benchmark of the 9P library: `npm run bench` (or `node dist/bench/run.js` after a build).
 *
 *   --quick            1 s per test instead of 1.5 s (BENCH_SECONDS=N sets it to N seconds)
 *   --no-pin           leave CPU placement to the scheduler (by default the server and the load
 *                      generator are pinned to CPUs of their own with taskset, when there is one)
 *   --profile[=DIR]    run the server under `node --cpu-prof`, profile written to DIR
 *                      (default bench-profiles/), to open in Chrome DevTools or speedscope
 *   --against=DIR|REV  also measure another checkout's 9P server beside ours (a directory, or a
 *                      git revision checked out and built under the temp directory): server CPU
 *                      per round of each, and the ratio against the target (bench/compare.ts);
 *                      and its session creation, interleaved with ours (bench/create.ts)
 *   --instructions     with --against: also the instructions each 9P server executes per round,
 *                      counted by valgrind (bench/instructions.ts): a measure the machine's load
 *                      does not move (slow: about a minute per server)
 *   --9p               only the 9P figures (no sessions, no Claude Code)
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
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { Client } from '../src/ninep/client.js';
import { IOHDRSZ } from '../src/ninep/constants.js';
import { BIG_SIZE, SMALL_CONTENTS, SMALL_FILE, bigContents, bigRound, connectAll, runRounds, smallRound } from './ninep.js';
import { checkoutOf, compareWith } from './compare.js';
import { measure, placement, startServer, type Figures, type ServerProcess } from './process.js';
import { benchClaude } from './claude.js';
import { benchRealAgents } from './real-agents.js';
import { benchSessions } from './sessions.js';

interface Options {
  seconds: number;
  warmup: number;
  profileDir: string | null;
  pin: boolean;
  /** A checkout (directory or git revision) whose 9P server to measure beside ours. */
  against: string | null;
  /** Only the 9P figures: no sessions, no Claude Code. */
  only9p: boolean;
  /** With `against`: instructions per round too, counted by valgrind. */
  instructions: boolean;
}

function parseOptions(argv: string[]): Options {
  let seconds = 1.5;
  let warmup = 0.5;
  let profileDir: string | null = null;
  let pin = true;
  let against: string | null = null;
  let only9p = false;
  let instructions = false;
  for (const arg of argv) {
    if (arg === '--quick') {
      seconds = 1;
      warmup = 0.25;
    } else if (arg === '--profile') {
      profileDir = 'bench-profiles';
    } else if (arg.startsWith('--profile=')) {
      profileDir = arg.slice('--profile='.length);
    } else if (arg.startsWith('--against=')) {
      against = arg.slice('--against='.length);
    } else if (arg === '--instructions') {
      instructions = true;
    } else if (arg === '--9p') {
      only9p = true;
    } else if (arg === '--no-pin') {
      pin = false;
    } else if (arg === '-h' || arg === '--help') {
      console.log('usage: npm run bench -- [--quick] [--9p] [--against=DIR|REV [--instructions]] [--no-pin] [--profile[=DIR]]   (env BENCH_SECONDS=N: seconds per test)');
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
  if (instructions && !against) throw new Error('--instructions compares with another checkout: give --against=DIR|REV too');
  return { seconds, warmup, profileDir: profileDir && path.resolve(profileDir), pin, against, only9p, instructions };
}

// ---- measuring ---------------------------------------------------------------------------

function percentileUs(latenciesNs: number[], q: number): number {
  const sorted = Float64Array.from(latenciesNs).sort();
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]! / 1000;
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
    const place = placement([pid], opts.pin);
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
    console.log('target (Go original, same machine): 5,000 rounds/s on 1 connection, 18,000 on 8 (issue #16 figures;');
    console.log('  not measured here: building the Go original needs the Go module proxy, which this machine cannot reach)');
  } finally {
    await server?.stop();
  }
  indent = '  ';
  try {
    if (opts.against) await compareWith(opts.against, opts, line);
    if (!opts.only9p) {
      await benchSessions(line, opts.against ? checkoutOf(opts.against) : null);
      await benchClaude(line);
      await benchRealAgents(line);
    }
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
