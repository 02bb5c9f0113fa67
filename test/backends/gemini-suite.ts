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
import { agentProcesses, needsAgent, realAgentWorld, type RealAgentWorld } from '../fixtures/real-agents.js';
import { alive, needs, until } from '../helpers.js';

describe('gemini (the real CLI, against a mock API)', { skip: needs('tmux', 'bwrap') || needsAgent('gemini') }, () => {
  let world: RealAgentWorld;
  let manager: SessionManager;
  let s: Session;

  before(async () => {
    world = await realAgentWorld();
    fs.mkdirSync(path.join(world.home, '.gemini'));
    fs.writeFileSync(path.join(world.home, '.gemini', 'settings.json'), JSON.stringify({ security: { auth: { selectedType: 'gemini-api-key' } } }));
    world.env['GEMINI_API_KEY'] = 'mock-key';
    world.env['GOOGLE_GEMINI_BASE_URL'] = world.models.url;
    manager = world.manager();
  });
  after(async () => {
    await manager.killAll().catch(() => {});
    await manager.close();
    await world.close();
  });

  const idle = (x: Session, ms = 60_000) => until(() => x.state === 'idle', `${x.id} to be idle (it is ${x.state}; err: ${x.err()})`, ms);

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

  it('a prompt reaches the model, and exactly its answer is in out', async () => {
    s.prompt('hello gemini');
    assert.equal(s.state, 'running');
    await idle(s);
    assert.equal(s.out(), 'Echo: hello gemini');
    assert.ok(world.models.prompts.includes('hello gemini'), `the model was asked: ${JSON.stringify(world.models.prompts)}`);
    assert.ok(world.models.requests.some((r) => r.url.includes(':generateContent')), 'the router was asked first');
    assert.equal(s.transcript(), 'USER: hello gemini\n\nASSISTANT: Echo: hello gemini\n\n');
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
    assert.match(await s.screen(), /cancel/i);
  });

  it('Save writes the transcript (its own /chat save takes tags, not paths); Load is refused', async () => {
    const file = await s.save('talk.txt');
    assert.match(fs.readFileSync(file, 'utf8'), /^USER: hello gemini\n\nASSISTANT: Echo: hello gemini\n\n/);
    await assert.rejects(s.load('talk.txt'), /gemini cannot load a saved conversation: use Attach/);
  });

  it('kill ends gemini and every process it started', async () => {
    const pids = [s.pid, ...descendants(s.pid)];
    await s.kill();
    assert.equal(s.state, 'exited');
    await until(() => !pids.some(alive), `${pids.join(' ')} to end`, 10_000);
    await until(() => agentProcesses(world.home).length === 0, `no gemini process left (${agentProcesses(world.home).join(', ')})`, 10_000);
  });
});
