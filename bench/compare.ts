/**
 * Our 9P server beside another checkout's (`npm run bench -- --against=DIR|REV`): both ramfs
 * servers run at once, pinned alike, and the same small rounds alternate between them, so that
 * whatever else the machine is doing weighs on both; the server CPU per round of each is printed
 * with their ratio beside the target (issue #16: at most 0.70 of the commit before). A third
 * server, the floor (bench/floor-server.ts: canned replies, no 9P work), shows how much of a
 * round is Node's and the kernel's, which no 9P server on `net` can save.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { compareInstructions, instructionCounting } from './instructions.js';
import { connectAll, runRounds, smallRound } from './ninep.js';
import { measure, placement, startServer, type ServerProcess } from './process.js';

/** The CPU per round we aim at, as a fraction of the compared checkout's. */
const TARGET_RATIO = 0.7;
/** Alternations of the two servers per figure; the median is printed. */
const RUNS = 3;

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const FLOOR_SERVER = fileURLToPath(new URL('./floor-server.js', import.meta.url));

/**
 * A checkout whose bench server is built: DIR as it is, or a git revision of this repository
 * checked out (git worktree) and built under the temp directory, once.
 */
export function checkoutOf(spec: string): { dir: string; label: string } {
  const git = (args: string[], cwd: string) => execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  let dir = spec;
  if (!fs.existsSync(spec)) {
    const sha = git(['rev-parse', '--short', `${spec}^{commit}`], REPO);
    dir = path.join(os.tmpdir(), `anvillm-bench-${sha}`);
    if (!fs.existsSync(dir)) {
      console.log(`  checking out ${spec} (${sha}) in ${dir} and building it`);
      git(['worktree', 'add', '--detach', dir, sha], REPO);
    }
    // Its dependencies are ours (the link made again if it leads nowhere: made from a worktree since removed).
    const modules = path.join(dir, 'node_modules');
    if (!fs.existsSync(modules)) {
      fs.rmSync(modules, { force: true });
      fs.symlinkSync(path.join(REPO, 'node_modules'), modules);
    }
  }
  const server = path.join(dir, 'dist', 'bench', 'server.js');
  if (!fs.existsSync(server)) {
    const tsc = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: dir, stdio: 'inherit' });
  }
  let label = path.basename(dir);
  try {
    label = git(['log', '-1', '--format=%h'], dir);
  } catch {
    // not a git checkout: its directory names it
  }
  return { dir: path.resolve(dir), label };
}

interface Side {
  name: string;
  server: ServerProcess;
  socket: string;
}

/** Server CPU µs per round and rounds/s of one side, one run. */
async function oneRun(side: Side, conns: number, seconds: number, warmup: number): Promise<{ cpu: number; rate: number }> {
  const round = smallRound();
  const cs = await connectAll(side.socket, conns);
  try {
    await runRounds(cs, warmup, round);
    const f = await measure(side.server.child.pid!, () => runRounds(cs, seconds, round));
    if (f.serverCpu === null) throw new Error('cannot read the server CPU time (no /proc)');
    return { cpu: (f.serverCpu * f.seconds * 1e6) / f.rounds, rate: f.perSecond };
  } finally {
    for (const c of cs) c.close();
  }
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function compareWith(
  spec: string,
  opts: { seconds: number; warmup: number; pin: boolean; instructions: boolean },
  line: (label: string, value: string, rest: string) => void,
): Promise<void> {
  const other = checkoutOf(spec);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'anvillm-bench-cmp-'));
  const sides: Side[] = [];
  try {
    for (const [name, script] of [
      ['ours', undefined],
      [other.label, path.join(other.dir, 'dist', 'bench', 'server.js')],
      ['floor', FLOOR_SERVER],
    ] as const) {
      const socket = path.join(tmp, name);
      sides.push({ name, socket, server: await startServer(socket, null, script) });
    }
    const place = placement(sides.map((s) => s.server.child.pid!), opts.pin);
    place.separate();
    console.log(`9p server CPU per round (walk+open+read+clunk), ours beside ${other.label} (${other.dir}) and the floor, median of ${RUNS} runs in turn`);
    console.log(`  ${place.describe}; CPU time from the scheduler (all threads)`);
    for (const conns of [1, 8]) {
      const runs = new Map<string, { cpu: number; rate: number }[]>(sides.map((s) => [s.name, []]));
      for (let i = 0; i < RUNS; i++) {
        for (const side of i % 2 === 0 ? sides : [...sides].reverse()) runs.get(side.name)!.push(await oneRun(side, conns, opts.seconds, opts.warmup));
      }
      const [ours, theirs, floor] = sides.map((s) => runs.get(s.name)!).map((rs) => ({
        cpu: median(rs.map((r) => r.cpu)),
        rate: median(rs.map((r) => r.rate)),
      }));
      const ratio = ours!.cpu / theirs!.cpu;
      line(
        `${conns} connection${conns > 1 ? 's' : ''}: ours / ${other.label}`,
        ratio.toFixed(2),
        `${Math.round(ours!.cpu)} µs vs ${Math.round(theirs!.cpu)} µs per round, ${int(ours!.rate)} vs ${int(theirs!.rate)} rounds/s   (target ≤ ${TARGET_RATIO.toFixed(2)}: ${ratio <= TARGET_RATIO ? 'met' : 'NOT met'})`,
      );
      line(
        `  floor (no 9P work) / ${other.label}`,
        (floor!.cpu / theirs!.cpu).toFixed(2),
        `${Math.round(floor!.cpu)} µs per round: what Node and the kernel take of a round`,
      );
    }
  } finally {
    for (const s of sides) await s.server.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  if (!opts.instructions) return;
  const missing = instructionCounting();
  if (missing) return console.log(`9p server instructions per round: not measured (${missing})`);
  await compareInstructions(
    [
      { name: 'ours', script: undefined },
      { name: other.label, script: path.join(other.dir, 'dist', 'bench', 'server.js') },
      { name: 'floor', script: FLOOR_SERVER },
    ],
    TARGET_RATIO,
    line,
  );
}
