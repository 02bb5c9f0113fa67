/**
 * The built-in codex backend with the REAL Codex CLI (@openai/codex, pinned in
 * .ci/agents/package.json) against a mock Responses API on 127.0.0.1, in real tmux and bubblewrap.
 * Skipped, saying how to install it, when the CLI is not installed. Run by real-agents.test.ts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { SessionManager } from '../../src/session/manager.js';
import { descendants } from '../../src/session/processes.js';
import type { Session } from '../../src/session/session.js';
import { agentProcesses, needsAgent, realAgentWorld, type RealAgentWorld } from '../fixtures/real-agents.js';
import { alive, needs, until } from '../helpers.js';

describe('codex (the real CLI, against a mock API)', { skip: needs('tmux', 'bwrap') || needsAgent('codex') }, () => {
  let world: RealAgentWorld;
  let manager: SessionManager;
  let s: Session;

  before(async () => {
    world = await realAgentWorld();
    fs.mkdirSync(path.join(world.home, '.codex'));
    fs.writeFileSync(
      path.join(world.home, '.codex', 'config.toml'),
      `model = "mock-model"\nmodel_provider = "mock"\n\n[model_providers.mock]\nname = "Mock"\nbase_url = "${world.models.url}/v1"\nwire_api = "responses"\nenv_key = "OPENAI_API_KEY"\n`,
    );
    world.env['OPENAI_API_KEY'] = 'mock-key';
    manager = world.manager();
  });
  after(async () => {
    await manager.killAll().catch(() => {});
    await manager.close();
    await world.close();
  });

  const idle = (x: Session, ms = 60_000) => until(() => x.state === 'idle', `${x.id} to be idle (it is ${x.state}; err: ${x.err()})`, ms);

  it('a missing codex is refused, saying how to install it', async () => {
    const saved = world.env['PATH'];
    world.env['PATH'] = '/usr/bin:/bin';
    try {
      await assert.rejects(manager.create('codex', world.project('none')), /^Error: codex is not installed: npm install -g @openai\/codex$/);
    } finally {
      world.env['PATH'] = saved;
    }
  });

  it('starts and becomes idle, ready for a prompt', async () => {
    s = await manager.create('codex', world.project('c1'));
    await idle(s);
    assert.match(await s.screen(), /OpenAI Codex/);
  });

  it('a prompt reaches the model, and exactly its answer is in out', async () => {
    s.prompt('hello codex');
    assert.equal(s.state, 'running');
    await idle(s);
    assert.equal(s.out(), 'Echo: hello codex');
    assert.ok(world.models.prompts.includes('hello codex'), `the model was asked: ${JSON.stringify(world.models.prompts)}`);
    assert.equal(s.transcript(), 'USER: hello codex\n\nASSISTANT: Echo: hello codex\n\n');
  });

  it('a multi-line prompt is one prompt', async () => {
    s.prompt('first line\nsecond line');
    await idle(s);
    assert.equal(s.out(), 'Echo: first line\nsecond line');
  });

  it('is running while the model works, however long, then idle', async () => {
    s.prompt('sleep 3');
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(s.state, 'running');
    await idle(s);
    assert.equal(s.out(), 'Slept 3 seconds.');
  });

  it('stop interrupts the turn', async () => {
    s.prompt('sleep 30');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(s.state, 'running');
    await s.stop();
    await idle(s, 10_000);
    assert.match(await s.screen(), /interrupted/i);
  });

  it('Save writes the transcript (codex has no save of its own); Load is refused', async () => {
    const file = await s.save('talk.txt');
    assert.match(fs.readFileSync(file, 'utf8'), /^USER: hello codex\n\nASSISTANT: Echo: hello codex\n\n/);
    await assert.rejects(s.load('talk.txt'), /codex cannot load a saved conversation: use Attach/);
  });

  it('kill ends codex and every process it started, leaving no app-server behind', async () => {
    const pids = [s.pid, ...descendants(s.pid)];
    await s.kill();
    assert.equal(s.state, 'exited');
    await until(() => !pids.some(alive), `${pids.join(' ')} to end`, 10_000);
    await until(() => agentProcesses(world.home).length === 0, `no codex process left (${agentProcesses(world.home).join(', ')})`, 10_000);
  });

  it("with codex's shared app-server daemon allowed (no --no-daemon), kill ends that too", async () => {
    const yaml = path.join(world.home, '.config', 'anvillm', 'backends.yaml');
    fs.appendFileSync(yaml, '  codex:\n    command: [codex, --dangerously-bypass-approvals-and-sandbox]\n');
    const d = await manager.create('codex', world.project('c2'));
    await idle(d);
    await until(() => agentProcesses(world.home).some((p) => p.includes('app-server')), 'the app-server daemon to start', 20_000);
    await d.kill();
    await until(() => agentProcesses(world.home).length === 0, `no codex process left (${agentProcesses(world.home).join(', ')})`, 10_000);
  });
});
