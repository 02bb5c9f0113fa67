/**
 * Claude Code figures for `npm run bench`: the REAL Claude Code (the pinned devDependency) in real
 * tmux and bubblewrap, against the tests' mock Messages API, driven through agent/ over 9P:
 * - a prompt written to agent/<id>/in (the clunk) → the `state running` line read on agent/events;
 * - the mock's last byte of the answer → `state idle` on agent/events, with `out` then read.
 * - a hook's run (our sh script started) → the daemon holding its report: our share of the above,
 *   the rest being Claude Code's own time between the last byte and running its Stop hook.
 * The original polled every 100 ms and wanted 300 ms of quiet: ≥ 400 ms by design.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { agentTree } from '../src/agentfs/agentfs.js';
import { HookInbox, installHook } from '../src/backends/hook-inbox.js';
import { Client } from '../src/ninep/client.js';
import { OREAD } from '../src/ninep/constants.js';
import { findOnPath } from '../src/sandbox/resolve.js';
import type { SessionManager } from '../src/session/manager.js';
import { claudeProgram, claudeWorld } from '../test/fixtures/claude-env.js';
import { serve } from '../test/helpers.js';

const PROMPTS = 12;

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

/** Runs the hook script as Claude Code would (sh -c, JSON on stdin) and times the report's arrival. */
async function hookLatency(runs: number): Promise<number[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anvillm-bench-hook-'));
  let arrived: (() => void) | null = null;
  const inbox = new HookInbox(dir, () => arrived?.());
  const command = installHook(dir)('Stop');
  const times: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const got = new Promise<void>((resolve) => (arrived = resolve));
      const start = performance.now();
      const sh = spawn('/bin/sh', ['-c', command], { stdio: ['pipe', 'ignore', 'ignore'] });
      sh.stdin.end(JSON.stringify({ hook_event_name: 'Stop', last_assistant_message: `answer ${i}` }));
      await got;
      times.push(performance.now() - start);
      await new Promise((resolve) => sh.once('exit', resolve));
    }
  } finally {
    inbox.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return times;
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
    line("claude: mock's last byte → idle", ms(toIdle, 50), `median; p95 ${ms(toIdle, 95)} (target ≤ 50 ms p95; the original ≥ 400 ms)`);
    const hooks = await hookLatency(30);
    line('claude: hook run → daemon has it', ms(hooks, 50), `median; p95 ${ms(hooks, 95)}, 30 runs: our share; Claude Code itself runs its Stop hook 30–100 ms after the last byte`);
  } finally {
    await world.close();
  }
}
