/**
 * Claude Code figures for `npm run bench`: the REAL Claude Code (the pinned devDependency) in real
 * tmux and bubblewrap, against the tests' mock Messages API, driven through agent/ over 9P:
 * - a prompt written to agent/<id>/in (the clunk) → the `state running` line read on agent/events;
 * - the mock's last byte of the answer → `state idle` on agent/events, with `out` then read.
 * - a hook's run (the `sh -c` Claude Code starts for it) → the daemon holding its report: our share
 *   of the above, the rest being Claude Code's own time between the last byte and its Stop hook.
 * The original polled every 100 ms and wanted 300 ms of quiet: ≥ 400 ms by design.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { agentTree } from '../src/agentfs/agentfs.js';
import { Client } from '../src/ninep/client.js';
import { OREAD } from '../src/ninep/constants.js';
import { findOnPath } from '../src/sandbox/resolve.js';
import type { SessionManager } from '../src/session/manager.js';
import { claudeProgram, claudeWorld } from '../test/fixtures/claude-env.js';
import { serve } from '../test/helpers.js';

const PROMPTS = 20;

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

/**
 * `prompts` prompts written to agent/<id>/in of a new `backend` session (the first, which may
 * carry the agent's own extra requests, not counted): prompt written → `state running` on
 * agent/events, and the mock's last byte (`lastByteAt()`) → `state idle`, `out` checked each time.
 */
export async function promptLatencies(
  manager: SessionManager,
  backend: string,
  dir: string,
  lastByteAt: () => number,
  prompts: number,
): Promise<{ toRunning: number[]; toIdle: number[] }> {
  const srv = await serve(agentTree(manager));
  const client = await Client.dial(`unix!${srv.socketPath}`);
  try {
    const events = await client.open('events', OREAD);
    let seen = '';
    const waitLine = async (re: RegExp): Promise<number> => {
      while (!re.test(seen)) seen += (await events.read()).toString();
      const at = performance.now();
      seen = '';
      return at;
    };
    const ctl = await client.open('ctl', 2);
    await ctl.write(`new ${backend} ${dir}`);
    const id = (await ctl.read()).toString().trim();
    await ctl.close();
    await waitLine(new RegExp(`${id} state starting idle`));
    const toRunning: number[] = [];
    const toIdle: number[] = [];
    for (let i = 0; i <= prompts; i++) {
      const input = await client.open(`${id}/in`, 1);
      await input.write(`bench prompt ${i}`);
      const written = performance.now();
      await input.close();
      const running = await waitLine(new RegExp(`${id} state idle running`));
      const idle = await waitLine(new RegExp(`${id} state running idle`));
      const out = (await client.readFile(`${id}/out`)).toString();
      if (out !== `Echo: bench prompt ${i}`) throw new Error(`${backend}: out was ${JSON.stringify(out)}`);
      if (i === 0) continue;
      toRunning.push(running - written);
      toIdle.push(idle - lastByteAt());
    }
    await events.close();
    return { toRunning, toIdle };
  } finally {
    client.close();
    await srv.close();
  }
}

export const ms = (xs: number[], p: number) => `${percentile(xs, p).toFixed(1)} ms`;

export async function benchClaude(line: (label: string, value: string, rest: string) => void): Promise<void> {
  if (!claudeProgram() || !findOnPath('tmux', process.env) || !findOnPath('bwrap', process.env)) {
    console.log('claude: skipped (needs tmux, bubblewrap and npm ci for the pinned Claude Code)');
    return;
  }
  const world = await claudeWorld();
  try {
    const { toRunning, toIdle } = await promptLatencies(world.manager, 'claude', world.project('bench'), () => world.mock.lastByteAt, PROMPTS);
    line('claude: prompt written → running', ms(toRunning, 50), `median; p95 ${ms(toRunning, 95)}, ${PROMPTS} prompts through agent/`);
    line("claude: mock's last byte → idle", ms(toIdle, 50), `median (target ≤ 45 ms); p95 ${ms(toIdle, 95)} (target ≤ 70 ms); the original ≥ 400 ms`);
  } finally {
    await world.close();
  }
  // In a small process of its own, once Claude Code has gone: a fork of this big one, or Claude Code
  // idling beside it, would weigh on a measure of a few milliseconds.
  const script = fileURLToPath(new URL('./hook-latency.js', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, [script, '30']);
  const hooks = JSON.parse(stdout) as number[];
  line('claude: hook (sh -c) → daemon has it', ms(hooks, 50), `median (target ≤ 5 ms); p95 ${ms(hooks, 95)}, 30 runs: our share of the line before`);
}
