/**
 * The state-truth harness, `npm run truth`: for each real agent (Claude Code, Codex, Gemini CLI)
 * against the tests' mock model APIs, a scripted run of 30 turns — plain answers, 120-line
 * answers, tool calls, a tool silent for longer than any quiet time, an interrupt, a permission
 * question (a variant without bypass), and the agent killed — comparing what the daemon says
 * (its state events, `out`) with the truth: the turn's script (which states it must pass
 * through, which answer the mock sent) and the mock's last byte of each answer. Per agent:
 * transitions matched, wrong states (events the script does not have), stuck turns (not over
 * within a minute), the delay from the mock's last byte to `idle` (p50, p95), the delay from the
 * agent's own signal (the hook's run, stamped by the agent's side) to the daemon's state event for
 * every change a signal made (p50, p95, max; target 20 ms), `out` exact.
 */
import fs from 'node:fs';
import path from 'node:path';

import type { SessionManager } from '../src/session/manager.js';
import type { Session } from '../src/session/session.js';
import type { State } from '../src/session/types.js';
import { findOnPath } from '../src/sandbox/resolve.js';
import { claudeProgram, claudeWorld } from '../test/fixtures/claude-env.js';
import { linesAnswer } from '../test/fixtures/mock-models.js';
import { codexWorld, geminiWorld, needsAgent } from '../test/fixtures/real-agents.js';
import { percentile } from './claude.js';

type Kind = 'plain' | 'lines' | 'tool' | 'silent' | 'interrupt' | 'permission' | 'crash';

interface Agent {
  name: string;
  skip: string | false;
  open(): Promise<{ manager: () => SessionManager; lastByteAt: () => number; project: (n: string) => string; close: () => Promise<void> }>;
  /** The prompt of each kind of turn, and the answer the mock gives it (null: not compared). */
  prompt(kind: Kind, i: number): { text: string; out: string | null };
  ask: string;
  question: RegExp;
  allowKeys: string[];
}

const SCRIPT: Kind[] = [
  ...Array<Kind>(6).fill('plain'), 'lines', 'tool', ...Array<Kind>(5).fill('plain'), 'lines', 'silent', 'plain', 'tool', 'plain',
  'interrupt', ...Array<Kind>(4).fill('plain'), 'lines', 'tool', 'plain', 'lines', 'plain', 'permission', 'crash',
];

const EXPECTED: Record<Kind, State[]> = {
  plain: ['running', 'idle'],
  lines: ['running', 'idle'],
  tool: ['running', 'idle'],
  silent: ['running', 'idle'],
  interrupt: ['running', 'idle'],
  permission: ['running', 'waiting', 'running', 'idle'],
  crash: ['exited'],
};

const needsSystem = () => (!findOnPath('tmux', process.env) || !findOnPath('bwrap', process.env) ? 'needs tmux and bubblewrap' : false);

const realAgent = (name: 'codex' | 'gemini', tool: (cmd: string) => string, variant: string, question: RegExp, allowKeys: string[]): Agent => ({
  name,
  skip: needsAgent(name) || needsSystem(),
  open: async () => {
    const world = await (name === 'codex' ? codexWorld() : geminiWorld());
    fs.appendFileSync(path.join(world.home, '.config', 'anvillm', 'backends.yaml'), variant);
    const manager = world.manager();
    return {
      manager: () => manager,
      lastByteAt: () => world.models.lastByteAt,
      project: (n) => world.project(n),
      close: async () => {
        await manager.killAll().catch(() => {});
        manager.close();
        await world.close();
      },
    };
  },
  prompt: (kind, i) => {
    if (kind === 'lines') return { text: 'lines 120', out: linesAnswer(120) };
    if (kind === 'tool') return { text: tool(`echo tool ${i}`), out: `Ran: echo tool ${i}` };
    if (kind === 'silent') return { text: tool('sleep 3'), out: 'Ran: sleep 3' };
    if (kind === 'interrupt') return { text: tool('sleep 30'), out: null };
    if (kind === 'permission') return { text: `${name === 'codex' ? 'ask' : 'run'} touch made-by-tool`, out: 'Ran: touch made-by-tool' };
    return { text: `truth ${i}`, out: `Echo: truth ${i}` };
  },
  ask: `${name}-ask`,
  question,
  allowKeys,
});

const AGENTS: Agent[] = [
  {
    name: 'claude',
    skip: (claudeProgram() ? false : 'npm ci installs the pinned Claude Code') || needsSystem(),
    open: async () => {
      const world = await claudeWorld();
      return { manager: () => world.manager, lastByteAt: () => world.mock.lastByteAt, project: (n) => world.project(n), close: () => world.close() };
    },
    prompt: (kind, i) => {
      if (kind === 'lines') return { text: 'LINES 120', out: linesAnswer(120) };
      if (kind === 'tool') return { text: `RUN: echo tool ${i}`, out: `Tool said: tool ${i}` };
      if (kind === 'silent') return { text: 'RUN: sleep 3; echo slept', out: 'Tool said: slept' };
      if (kind === 'interrupt') return { text: 'a SLOW one', out: null };
      if (kind === 'permission') return { text: 'RUN: touch made-by-tool', out: 'Tool said:' };
      return { text: `truth ${i}`, out: `Echo: truth ${i}` };
    },
    ask: 'claude-ask',
    question: /Do you want to proceed\?/,
    allowKeys: ['1'],
  },
  realAgent('codex', (c) => `run ${c}`, '  codex-ask:\n    base: codex\n    command: [codex, --ask-for-approval, on-request, --sandbox, read-only, --no-daemon]\n', /Would you like to run the following command\?[\s\S]*1\. Yes, proceed/, ['Enter']),
  realAgent('gemini', (c) => `run ${c}`, '  gemini-ask:\n    base: gemini\n    command: [gemini]\n', /Allow execution of \[Shell\]\?[\s\S]*1\. Allow once/, ['Enter']),
];

interface Tally {
  expected: number;
  matched: number;
  wrong: string[];
  stuck: string[];
  delays: number[];
  /** Agent's signal → our state event, ms, for every change a signal made. */
  signals: number[];
  /** The changes later than the target after their signal. */
  late: string[];
  outs: number;
  exact: number;
}

/** Issue 14: each transition within this long of the agent's own signal. */
const SIGNAL_TARGET_MS = 20;

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await wait(10);
  }
  return false;
}

/** Runs one turn; returns the states the daemon announced for it. */
async function runTurn(agent: Agent, w: Awaited<ReturnType<Agent['open']>>, s: Session, kind: Kind, text: string, seen: { state: State; at: number }[]): Promise<boolean> {
  const final = EXPECTED[kind][EXPECTED[kind].length - 1]!;
  if (kind === 'crash') {
    process.kill(s.pid, 'SIGKILL');
  } else {
    s.prompt(text);
  }
  if (kind === 'interrupt') {
    await wait(2000);
    await s.stop();
  }
  if (kind === 'permission') {
    if (!(await until(() => s.state === 'waiting', 30_000))) return false;
    if (!(await until(async () => agent.question.test(await s.screen()), 10_000))) return false;
    await wait(500); // a human's pace: keys typed the moment the question is drawn can be lost
    await w.manager().tmux.sendKeys(s.tmuxSession, s.paneId, agent.allowKeys);
  }
  return until(() => seen.length > 0 && seen[seen.length - 1]!.state === final && s.state === final, 60_000);
}

async function runAgent(agent: Agent): Promise<Tally> {
  const t: Tally = { expected: 0, matched: 0, wrong: [], stuck: [], delays: [], signals: [], late: [], outs: 0, exact: 0 };
  let turn = 'start';
  const w = await agent.open();
  const seen = new Map<string, { state: State; at: number }[]>();
  w.manager().subscribe((e) => {
    if (e.kind !== 'state' || !seen.has(e.id)) return;
    seen.get(e.id)!.push({ state: e.to, at: performance.now() });
    if (e.signalAt === undefined) return;
    const delay = Date.now() - e.signalAt;
    t.signals.push(delay);
    if (delay > SIGNAL_TARGET_MS) t.late.push(`${turn}: ${e.to} ${delay.toFixed(1)} ms after its signal`);
  });
  const start = async (backend: string, dir: string) => {
    const s = await w.manager().create(backend, w.project(dir));
    seen.set(s.id, []);
    if (!(await until(() => s.state === 'idle', 60_000))) throw new Error(`${backend} did not start: ${s.err()}`);
    return s;
  };
  try {
    let s = await start(agent.name, 'truth');
    for (const [i, kind] of SCRIPT.entries()) {
      turn = `turn ${i + 1} (${kind})`;
      if (kind === 'permission') s = await start(agent.ask, 'truth-ask');
      const { text, out } = kind === 'crash' ? { text: '', out: null } : agent.prompt(kind, i);
      const log = seen.get(s.id)!;
      log.length = 0;
      const over = await runTurn(agent, w, s, kind, text, log);
      const got = log.map((e) => e.state);
      const want = EXPECTED[kind];
      let k = 0;
      for (const g of got) if (g === want[k]) k++;
      t.expected += want.length;
      t.matched += k;
      if (got.length > k || k < want.length) t.wrong.push(`turn ${i + 1} (${kind}): ${got.join(' → ') || 'nothing'}, not ${want.join(' → ')}`);
      if (!over) t.stuck.push(`turn ${i + 1} (${kind}): ${s.state} after a minute`);
      const idle = log.find((e) => e.state === 'idle');
      if (idle && kind !== 'interrupt' && kind !== 'crash') t.delays.push(idle.at - w.lastByteAt());
      if (out !== null) {
        t.outs++;
        if (kind === 'permission' ? s.out().startsWith(out) : s.out() === out) t.exact++;
        else t.wrong.push(`turn ${i + 1} (${kind}): out ${JSON.stringify(s.out().slice(0, 60))}, not ${JSON.stringify(out.slice(0, 60))}`);
      }
    }
  } finally {
    await w.close();
  }
  return t;
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  for (const agent of AGENTS) {
    if (only.length > 0 && !only.includes(agent.name)) continue;
    if (agent.skip) {
      console.log(`${agent.name}: skipped (${agent.skip})`);
      continue;
    }
    const began = Date.now();
    const t = await runAgent(agent);
    const pct = (a: number, b: number) => `${b === 0 ? 100 : ((100 * a) / b).toFixed(1)}%`;
    const ms = (xs: number[], p: number) => (xs.length ? `${percentile(xs, p).toFixed(1)} ms` : '-');
    const within = t.signals.filter((d) => d <= SIGNAL_TARGET_MS).length;
    console.log(
      `${agent.name.padEnd(7)} ${SCRIPT.length} turns in ${((Date.now() - began) / 1000).toFixed(0)} s: transitions matched ${pct(t.matched, t.expected)} (${t.matched}/${t.expected}), ` +
        `wrong ${t.wrong.length}, stuck ${t.stuck.length}, last byte → idle p50 ${ms(t.delays, 50)} p95 ${ms(t.delays, 95)}, out exact ${pct(t.exact, t.outs)} (${t.exact}/${t.outs})`,
    );
    console.log(
      `${''.padEnd(7)} signal → state (${t.signals.length} changes made by the agent's own signal): p50 ${ms(t.signals, 50)} p95 ${ms(t.signals, 95)} max ${ms(t.signals, 100)}, ` +
        `within ${SIGNAL_TARGET_MS} ms ${pct(within, t.signals.length)} (target 100%)`,
    );
    for (const line of [...t.wrong, ...t.stuck, ...t.late]) console.log(`  ${line}`);
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`truth: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  },
);
