/**
 * Codex and Gemini figures for `npm run bench`: the REAL CLIs (optional, .ci/agents) in real tmux
 * and bubblewrap against the tests' mock model API, driven through agent/ over 9P, as for Claude
 * Code (claude.ts): prompt written → `running`, and the mock's last byte → `idle` (the agent's own
 * time to run its turn-end hook included).
 */
import { findOnPath } from '../src/sandbox/resolve.js';
import { codexWorld, geminiWorld, needsAgent } from '../test/fixtures/real-agents.js';
import { ms, promptLatencies } from './claude.js';

const PROMPTS = 12;

export async function benchRealAgents(line: (label: string, value: string, rest: string) => void): Promise<void> {
  for (const [backend, setup] of [
    ['codex', codexWorld],
    ['gemini', geminiWorld],
  ] as const) {
    const missing = needsAgent(backend) || (!findOnPath('tmux', process.env) || !findOnPath('bwrap', process.env) ? 'needs tmux and bubblewrap' : false);
    if (missing) {
      console.log(`${backend}: skipped (${missing})`);
      continue;
    }
    const world = await setup();
    const manager = world.manager();
    try {
      const { toRunning, toIdle } = await promptLatencies(manager, backend, world.project('bench'), () => world.models.lastByteAt, PROMPTS);
      line(`${backend}: prompt written → running`, ms(toRunning, 50), `median; p95 ${ms(toRunning, 95)}, ${PROMPTS} prompts through agent/`);
      line(`${backend}: mock's last byte → idle`, ms(toIdle, 50), `median; p95 ${ms(toIdle, 95)} (its turn-end hook; read off the screen it was ≥ 600 ms of quiet)`);
    } finally {
      await manager.killAll().catch(() => {});
      manager.close();
      await world.close();
    }
  }
}
