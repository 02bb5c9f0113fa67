/**
 * The built-in gemini backend with the REAL Gemini CLI (@google/gemini-cli, pinned in
 * .ci/agents/package.json) against a mock Gemini API on 127.0.0.1 (its model router's
 * :generateContent, then :streamGenerateContent), in real tmux and bubblewrap. Skipped, saying how
 * to install it, when the CLI is not installed. Run by real-agents.test.ts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { SessionManager } from '../../src/session/manager.js';
import { descendants } from '../../src/session/processes.js';
import type { Session } from '../../src/session/session.js';
import { agentProcesses, geminiWorld, needsAgent, type RealAgentWorld } from '../fixtures/real-agents.js';
import { alive, needs, until } from '../helpers.js';
import { exactAgentTests } from './exact-agent-suite.js';

describe('gemini (the real CLI, against a mock API)', { skip: needs('tmux', 'bwrap') || needsAgent('gemini') }, () => {
  let world: RealAgentWorld;
  let manager: SessionManager;
  let s: Session;

  before(async () => {
    world = await geminiWorld();
    manager = world.manager();
  });
  after(async () => {
    await manager.killAll().catch(() => {});
    await manager.close();
    await world.close();
  });

  const idle = (x: Session, ms = 60_000) => until(() => x.state === 'idle', () => `${x.id} to be idle (it is ${x.state}; err: ${x.err()})`, ms);

  it('a missing gemini is refused, saying how to install it', async () => {
    const saved = world.env['PATH'];
    world.env['PATH'] = '/usr/bin:/bin';
    try {
      await assert.rejects(manager.create('gemini', world.project('none')), /^Error: gemini is not installed: npm install -g @google\/gemini-cli$/);
    } finally {
      world.env['PATH'] = saved;
    }
  });

  it('starts, trusting the folder, and becomes idle', async () => {
    s = await manager.create('gemini', world.project('g1'));
    await idle(s);
    const screen = await s.screen();
    assert.match(screen, /Gemini CLI v/);
    assert.doesNotMatch(screen, /Do you trust the files in this folder/);
  });

  exactAgentTests(
    {
      backend: 'gemini',
      world: () => world,
      manager: () => manager,
      restart: () => (manager = world.manager()),
      tool: 'run_shell_command',
      askVariant: '  gemini-ask:\n    base: gemini\n    command: [gemini]\n',
      allowKeys: ['Enter'],
      question: /Allow execution of \[Shell\]\?[\s\S]*1\. Allow once/,
    },
    () => s,
    (again) => (s = again),
  );

  it("the user's own hooks keep running beside ours; their settings file is not written", async () => {
    const settings = path.join(world.home, '.gemini', 'settings.json');
    // In ~/.gemini: the sandbox shows the agent no other part of the home.
    const log = path.join(world.home, '.gemini', 'user-hooks.log');
    const before = JSON.stringify({
      security: { auth: { selectedType: 'gemini-api-key' } },
      hooks: { AfterAgent: [{ hooks: [{ type: 'command', command: `echo after >> ${log}` }] }] },
    });
    fs.writeFileSync(settings, before);
    const u = await manager.create('gemini', world.project('g-user-hooks'));
    await idle(u);
    u.prompt('with the user hooks');
    await idle(u);
    assert.equal(u.out(), 'Echo: with the user hooks');
    await until(() => fs.existsSync(log), 'the user hook to run');
    assert.equal(fs.readFileSync(log, 'utf8'), 'after\n');
    assert.equal(fs.readFileSync(settings, 'utf8'), before);
    await u.kill();
  });

  it('kill ends gemini and every process it started', async () => {
    const pids = [s.pid, ...descendants(s.pid)];
    await s.kill();
    assert.equal(s.state, 'exited');
    await until(() => !pids.some(alive), `${pids.join(' ')} to end`, 10_000);
    await until(() => agentProcesses(world.home).length === 0, `no gemini process left (${agentProcesses(world.home).join(', ')})`, 10_000);
  });
});
