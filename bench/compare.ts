/**
 * Our 9P server beside another checkout's (`npm run bench -- --against=DIR|REV`): both ramfs
 * servers run at once, pinned alike, and the same small rounds alternate between them, so that
 * whatever else the machine is doing weighs on both; the server CPU per round of each is printed
 * with their ratio beside the target (issue #16: at most 0.70 of the commit before).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { connectAll, runRounds, smallRound } from './ninep.js';
import { measure, placement, startServer, type ServerProcess } from './process.js';

/** The CPU per round we aim at, as a fraction of the compared checkout's. */
const TARGET_RATIO = 0.7;
/** Alternations of the two servers per figure; the median is printed. */
const RUNS = 3;

const REPO = fileURLToPath(new URL('../..', import.meta.url));

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
      fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
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

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function compareWith(
  spec: string,
  opts: { seconds: number; warmup: number; pin: boolean },
  line: (label: string, value: string, rest: string) => void,
): Promise<void> {
  const other = checkoutOf(spec);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'anvillm-bench-cmp-'));
  const sides: Side[] = [];
  try {
    for (const [name, script] of [
      ['ours', undefined],
      [other.label, path.join(other.dir, 'dist', 'bench', 'server.js')],
    ] as const) {
      const socket = path.join(tmp, name);
      sides.push({ name, socket, server: await startServer(socket, null, script) });
    }
    const place = placement(sides.map((s) => s.server.child.pid!), opts.pin);
    place.separate();
    console.log(`9p server CPU per round (walk+open+read+clunk), ours beside ${other.label} (${other.dir}), median of ${RUNS} alternating runs`);
    console.log(`  ${place.describe}; CPU time from the scheduler (all threads)`);
    for (const conns of [1, 8]) {
      const runs = new Map<string, { cpu: number; rate: number }[]>(sides.map((s) => [s.name, []]));
      for (let i = 0; i < RUNS; i++) {
        for (const side of i % 2 === 0 ? sides : [...sides].reverse()) runs.get(side.name)!.push(await oneRun(side, conns, opts.seconds, opts.warmup));
      }
      const [ours, theirs] = sides.map((s) => runs.get(s.name)!);
      const [cpuOurs, cpuTheirs] = [median(ours!.map((r) => r.cpu)), median(theirs!.map((r) => r.cpu))];
      const ratio = cpuOurs / cpuTheirs;
      line(
        `${conns} connection${conns > 1 ? 's' : ''}: ours / ${other.label}`,
        `${ratio.toFixed(2)}`,
        `${Math.round(cpuOurs)} µs vs ${Math.round(cpuTheirs)} µs per round; ${Math.round(median(ours!.map((r) => r.rate)))} vs ${Math.round(median(theirs!.map((r) => r.rate)))} rounds/s   (target ≤ ${TARGET_RATIO.toFixed(2)}: ${ratio <= TARGET_RATIO ? 'met' : 'NOT met'})`,
      );
    }
  } finally {
    for (const s of sides) await s.server.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
