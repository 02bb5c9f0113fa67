/**
 * Session figures for `npm run bench`: what starting a session costs (bench/create.ts), how fast an
 * agent's going quiet becomes `idle`, and what 50 idle sessions cost. Real tmux (a private
 * socket), real bubblewrap, the test suite's fake agent, and `sleep` as an idle agent; then agent/
 * with 200 such sessions.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { agentTree } from '../src/agentfs/agentfs.js';
import { Client } from '../src/ninep/client.js';
import { OREAD } from '../src/ninep/constants.js';
import { post } from '../src/ninep/namespace.js';
import { Server } from '../src/ninep/server.js';
import { DEFAULT_POLICY_YAML } from '../src/sandbox/default-policy.js';
import { findOnPath } from '../src/sandbox/resolve.js';
import { SessionManager } from '../src/session/manager.js';
import type { Session } from '../src/session/session.js';
import { Tmux } from '../src/tmux/tmux.js';
import { benchCreate, type Checkout } from './create.js';

const QUIET_MS = 250;
const run = promisify(execFile);

async function until(check: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** `against`: another checkout (--against), whose session creation is measured beside ours. */
export async function benchSessions(line: (label: string, value: string, rest: string) => void, against: Checkout | null = null): Promise<void> {
  const missing = ['tmux', 'bwrap'].filter((p) => !findOnPath(p, process.env));
  if (missing.length > 0) {
    console.log(`sessions: skipped (needs ${missing.join(' and ')}: sudo apt-get install tmux bubblewrap)`);
    return;
  }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'anvillm-bench-sessions-'));
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const fake = path.join(repo, 'dist', 'test', 'fixtures', 'fake-agent.js');
  const home = path.join(root, 'home');
  const config = path.join(home, '.config', 'anvillm');
  fs.mkdirSync(config, { recursive: true });
  fs.writeFileSync(
    path.join(config, 'backends.yaml'),
    `backends:
  fake:
    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(fake)}]
    startup: {ready: "^>$"}
    state: {method: quiet, quiet_ms: ${QUIET_MS}, ready: "^>$"}
  idle:
    command: [sleep, infinity]
    state: {method: quiet, quiet_ms: 100}
`,
  );
  fs.writeFileSync(path.join(config, 'sandbox.yaml'), DEFAULT_POLICY_YAML.replace('  ro:\n', `  ro:\n    - ${repo}/dist\n`));
  const socket = path.join(root, 'tmux', 'sock');
  fs.mkdirSync(path.dirname(socket), { mode: 0o700 });
  const cwd = path.join(root, 'work');
  fs.mkdirSync(cwd);
  const env = { HOME: home, USER: os.userInfo().username, PATH: process.env['PATH'], LANG: 'C.UTF-8', XDG_STATE_HOME: path.join(root, 'state'), ANVILLM_TMUX_SOCKET: socket };
  const tmux = new Tmux({ socket, configFile: '/dev/null', env });
  const manager = new SessionManager({ env, tmux });
  const idleAt = new Map<string, number>();
  manager.subscribe((e) => {
    if (e.kind === 'state' && e.to === 'idle') idleAt.set(e.id, performance.now());
  });
  const lastOutput = new Map<string, number>();
  tmux.listen({ output: (pane) => lastOutput.set(pane, performance.now()) });
  const rssBefore = process.memoryUsage().rss;
  console.log('sessions (real tmux on a private socket, real bubblewrap; agents: the fake agent, and sleep)');
  try {
    // 1. Create: `new` → the agent's process exec'd in its window (against a baseline checkout too, when given).
    await benchCreate(line, repo, against);
    const sessions: Session[] = [];

    // 2. The fake agent's last output → idle.
    const agent = await manager.create('fake', cwd);
    await until(() => agent.state === 'idle', 'the fake agent to be idle');
    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      idleAt.delete(agent.id);
      agent.prompt(`question ${i}`);
      await until(() => idleAt.has(agent.id), 'the answer');
      latencies.push(idleAt.get(agent.id)! - lastOutput.get(agent.paneId)!);
    }
    line('last output → idle (quiet method)', `${median(latencies).toFixed(0)} ms`, `median of 5, of which ${QUIET_MS} ms is the backend's quiet time`);
    await agent.kill();

    // 3. 50 idle sessions: the daemon's CPU over 10 s, and its memory.
    while (sessions.length < 50) sessions.push(await manager.create('idle', cwd));
    await until(() => sessions.every((s) => s.state === 'idle'), '50 idle sessions');
    const cpu0 = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 10_000));
    const cpu = process.cpuUsage(cpu0);
    const ms = (cpu.user + cpu.system) / 1000;
    line('daemon CPU, 10 s with 50 idle sessions', `${ms.toFixed(1)} ms`, `${((ms / 10_000) * 100).toFixed(3)}% of a CPU; target ~0`);
    line('daemon RSS with 50 sessions', `${((process.memoryUsage().rss - rssBefore) / 2 ** 20).toFixed(1)} MiB more`, `${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB in all (this process)`);

    // 4. agent/ with 200 sessions: reading list, event delivery, and `anvillm ls` end to end.
    while (sessions.length < 200) sessions.push(await manager.create('idle', cwd));
    const ns = path.join(root, 'ns');
    const served = await post('agent', new Server(agentTree(manager)), { ...env, NAMESPACE: ns });
    const client = await Client.dial(`unix!${served.path}`);
    try {
      const reads: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t0 = performance.now();
        const text = (await client.readFile('list')).toString();
        reads.push(performance.now() - t0);
        if (text.split('\n').length < 201) throw new Error('list is short');
      }
      line('read agent/list, 200 sessions', `${median(reads).toFixed(2)} ms`, 'median of 20, over our 9P client');
      const events = await client.open('events', OREAD);
      const delays: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t0 = performance.now();
        sessions[i]!.setAlias(`bench${i}`);
        let got = '';
        while (!got.includes(`alias bench${i}`)) got += (await events.read()).toString();
        delays.push(performance.now() - t0);
      }
      await events.close();
      line('event delivery (change → client read)', `${median(delays).toFixed(2)} ms`, 'median of 20 alias events');
      const cli = path.join(repo, 'dist', 'src', 'cli', 'anvillm.js');
      const walls: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        // Not execFileSync: this process serves agent/ and must keep answering.
        await run(process.execPath, [cli, 'ls'], { env: { ...env, NAMESPACE: ns } });
        walls.push(performance.now() - t0);
      }
      line('anvillm ls, 200 sessions (wall)', `${median(walls).toFixed(0)} ms`, 'median of 3, including Node start-up');
    } finally {
      client.close();
      await served.close();
    }
  } finally {
    await manager.killAll().catch(() => {});
    manager.close();
    try {
      execFileSync('tmux', ['-S', socket, 'kill-server'], { stdio: 'ignore' });
    } catch {
      // already gone
    }
    fs.rmSync(root, { recursive: true, force: true });
  }
}
