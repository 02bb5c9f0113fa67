/**
 * A measure of the 9P server's cost per round that the machine's load does not move
 * (`npm run bench -- --9p --against=REV --instructions`): the instructions each server process
 * executes in user space per walk+open+read+clunk round, all its threads (event loop, V8's
 * compiler and GC threads), counted by valgrind's callgrind. CPU time on a shared machine swings
 * with what else runs; this count does not, so it is what decides whether a change helps. It
 * leaves out the kernel's work (the socket syscalls, wake-ups), which the CPU time includes.
 *
 * Each server (ours, the compared checkout's, the canned-bytes floor) runs alone under valgrind:
 * a warm-up of WARMUP rounds, then COUNTS times: the counters zeroed (callgrind_control -z),
 * exactly ROUNDS rounds, the counters dumped (callgrind_control -d) and read back. The lowest
 * count is the steady state: V8 may still compile or collect garbage in the first.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { connectAll, runCount, smallRound } from './ninep.js';
import { startServer } from './process.js';

/** Rounds before the first count: V8 compiles the hot paths with its optimising compiler meanwhile. */
const WARMUP = 4000;
/** Rounds per count; the lowest of COUNTS counts is kept (a count can include a late compile or GC). */
const ROUNDS = 1000;
const COUNTS = 3;

export interface Side {
  name: string;
  /** The server script; undefined for ours. */
  script: string | undefined;
}

/** `valgrind` and `callgrind_control` on PATH, or why not. */
export function instructionCounting(): string | null {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
    execFileSync('callgrind_control', ['--version'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'needs valgrind (callgrind and callgrind_control): apt-get install valgrind';
  }
}

/** The instructions counted since the last zeroing, from the dump callgrind_control asks for. */
function dumpedInstructions(dir: string, pid: number): number {
  const before = new Set(fs.readdirSync(dir));
  execFileSync('callgrind_control', ['-d', String(pid)], { stdio: 'ignore' });
  const dump = fs.readdirSync(dir).find((f) => f.startsWith(`${pid}.`) && !before.has(f));
  if (!dump) throw new Error('callgrind wrote no dump');
  const m = /^summary: (\d+)$/m.exec(fs.readFileSync(path.join(dir, dump), 'utf8'));
  if (!m) throw new Error(`no summary line in callgrind's dump ${dump}`);
  return Number(m[1]);
}

/** Instructions per round of one server, on 1 and on 8 connections. */
export async function countSide(side: Side, dir: string): Promise<Map<number, number>> {
  const socket = path.join(dir, `${side.name}.sock`);
  const wrapper = ['valgrind', '--tool=callgrind', '--smc-check=all-non-file', `--callgrind-out-file=${dir}/%p`, '--log-file=/dev/null'];
  const server = await startServer(socket, null, side.script, wrapper);
  const pid = server.child.pid!;
  const perRound = new Map<number, number>();
  try {
    for (const n of [1, 8]) {
      const conns = await connectAll(socket, n);
      try {
        await runCount(conns, WARMUP, smallRound());
        let least = Infinity;
        for (let i = 0; i < COUNTS; i++) {
          execFileSync('callgrind_control', ['-z', String(pid)], { stdio: 'ignore' });
          await runCount(conns, ROUNDS, smallRound());
          least = Math.min(least, dumpedInstructions(dir, pid) / ROUNDS);
        }
        perRound.set(n, least);
      } finally {
        for (const c of conns) c.close();
      }
    }
  } finally {
    await server.stop();
  }
  return perRound;
}

/** Counts each side in turn; the first is ours, the second the compared one, the third the floor. */
export async function compareInstructions(
  sides: [Side, Side, Side],
  target: number,
  line: (label: string, value: string, rest: string) => void,
): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anvillm-bench-ir-'));
  try {
    console.log(`9p server instructions per round (user space, all threads, counted by valgrind's callgrind; least of ${COUNTS} counts of ${ROUNDS} rounds after ${WARMUP}; no kernel work)`);
    const counts: Map<number, number>[] = [];
    for (const side of sides) counts.push(await countSide(side, dir));
    const [ours, theirs, floor] = counts as [Map<number, number>, Map<number, number>, Map<number, number>];
    const k = (n: number) => `${Math.round(n / 1000).toLocaleString('en-US')}k`;
    for (const n of [1, 8]) {
      const ratio = ours.get(n)! / theirs.get(n)!;
      line(
        `${n} connection${n > 1 ? 's' : ''}: ours / ${sides[1].name}`,
        ratio.toFixed(3), // the count repeats within about 1%: a third decimal tells 0.703 from 0.70
        `${k(ours.get(n)!)} vs ${k(theirs.get(n)!)} instructions per round   (target ≤ ${target.toFixed(2)}: ${ratio <= target ? 'met' : 'NOT met'})`,
      );
      line(`  floor (no 9P work) / ${sides[1].name}`, (floor.get(n)! / theirs.get(n)!).toFixed(2), `${k(floor.get(n)!)} instructions per round`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
