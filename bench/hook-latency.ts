/**
 * A hook's cost for `npm run bench` (bench/claude.ts runs this file as a process of its own, so
 * that nothing else of the bench weighs on it): our hook command started as Claude Code starts it
 * (sh -c, the event's JSON on stdin) → the daemon's HookInbox holding its report. Prints the times
 * in milliseconds as a JSON array.
 *
 *   node dist/bench/hook-latency.js [runs]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { HookInbox, installHook } from '../src/backends/hook-inbox.js';

/** Runs the hook command as Claude Code would (sh -c, JSON on stdin) and times the report's arrival. */
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

process.stdout.write(`${JSON.stringify(await hookLatency(Number(process.argv[2] ?? 30)))}\n`);
