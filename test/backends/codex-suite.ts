/**
 * The built-in codex backend with the REAL Codex CLI (@openai/codex, pinned in
 * .ci/agents/package.json) against a mock Responses API on 127.0.0.1, in real tmux and bubblewrap.
 * Skipped, saying how to install it, when the CLI is not installed. Run by real-agents.test.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { SessionManager } from '../../src/session/manager.js';
import { descendants } from '../../src/session/processes.js';
import type { Session } from '../../src/session/session.js';
import { agentProcesses, codexWorld, needsAgent, type RealAgentWorld } from '../fixtures/real-agents.js';
import { alive, needs, until } from '../helpers.js';
import { exactAgentTests } from './exact-agent-suite.js';

describe('codex (the real CLI, against a mock API)', { skip: needs('tmux', 'bwrap') || needsAgent('codex') }, () => {
  let world: RealAgentWorld;
  let manager: SessionManager;
  let s: Session;

  before(async () => {
    world = await codexWorld();
    manager = world.manager();
  });
  after(async () => {
    await manager.killAll().catch(() => {});
    await manager.close();
    await world.close();
  });

  const idle = (x: Session, ms = 60_000) => until(() => x.state === 'idle', () => `${x.id} to be idle (it is ${x.state}; err: ${x.err()})`, ms);

  it('a missing codex is refused, saying how to install it', async () => {
    const saved = world.env['PATH'];
    world.env['PATH'] = '/usr/bin:/bin';
    try {
      await assert.rejects(manager.create('codex', world.project('none')), /^Error: codex is not installed: npm install -g @openai\/codex$/);
    } finally {
      world.env['PATH'] = saved;
    }
  });

  it('starts in a fresh git repository Codex was never told to trust, and becomes idle; your config.toml is not written', async () => {
    const dir = world.project('c1');
    execFileSync('git', ['init', '-q', dir]);
    const config = path.join(world.home, '.codex', 'config.toml');
    const before = fs.readFileSync(config);
    s = await manager.create('codex', dir);
    await idle(s);
    const screen = await s.screen();
    assert.match(screen, /OpenAI Codex/);
    assert.doesNotMatch(screen, /Trust this folder|Hooks need review/);
    assert.deepEqual(fs.readFileSync(config), before);
  });

  exactAgentTests(
    {
      backend: 'codex',
      world: () => world,
      manager: () => manager,
      restart: () => (manager = world.manager()),
      tool: 'exec_command',
      askVariant: '  codex-ask:\n    base: codex\n    command: [codex, --ask-for-approval, on-request, --sandbox, read-only, --no-daemon]\n',
      allowKeys: ['Enter'],
      question: /Would you like to run the following command\?[\s\S]*1\. Yes, proceed/,
    },
    () => s,
    (again) => (s = again),
  );

  it("inside the session: the login is there; hooks and notify written into its Codex home reach none of your files", async () => {
    const codex = path.join(world.home, '.codex');
    const auth = path.join(codex, 'auth.json');
    fs.writeFileSync(auth, '{"OPENAI_API_KEY":"login-kept"}\n', { mode: 0o600 });
    const config = path.join(codex, 'config.toml');
    const before = fs.readFileSync(config);
    const dir = world.project('c-home');
    const h = await manager.create('codex', dir);
    await idle(h);
    h.prompt('run cp "$CODEX_HOME/auth.json" seen-auth.json');
    await idle(h);
    assert.equal(fs.readFileSync(path.join(dir, 'seen-auth.json'), 'utf8'), '{"OPENAI_API_KEY":"login-kept"}\n');
    const plant = `echo 'notify = ["touch", "${dir}/PWNED"]' >> "$CODEX_HOME/config.toml"; echo '{"hooks":{"Stop":[{"hooks":[{"type":"command","command":"touch ${dir}/PWNED"}]}]}}' > "$CODEX_HOME/hooks.json"; echo 'notify = ["touch", "${dir}/PWNED"]' >> ~/.codex/config.toml; true`;
    h.prompt(`run ${plant}`);
    await idle(h);
    assert.equal(h.out(), `Ran: ${plant}`);
    assert.deepEqual(fs.readFileSync(config), before, 'your config.toml is unchanged');
    assert.equal(fs.existsSync(path.join(codex, 'hooks.json')), false, 'no hooks.json in your ~/.codex');
    assert.equal(fs.readFileSync(auth, 'utf8'), '{"OPENAI_API_KEY":"login-kept"}\n');
    await h.kill();
    fs.rmSync(auth);
  });

  it("the user's own hooks keep running beside ours; untrusted ones stay so", async () => {
    // In ~/.codex: the sandbox shows the agent no other part of the home.
    const log = path.join(world.home, '.codex', 'user-hooks.log');
    const hook = path.join(world.home, '.codex', 'user-hook.sh');
    fs.writeFileSync(hook, `echo "$1" >> ${log}\n`);
    const trusted = `/bin/sh ${hook} trusted`;
    const untrusted = `/bin/sh ${hook} untrusted`;
    fs.writeFileSync(path.join(world.home, '.codex', 'hooks.json'), JSON.stringify({ hooks: { Stop: [{ hooks: [{ type: 'command', command: trusted }] }, { hooks: [{ type: 'command', command: untrusted }] }] } }));
    const hash = createHash('sha256').update(JSON.stringify({ event_name: 'stop', hooks: [{ async: false, command: trusted, timeout: 600, type: 'command' }] })).digest('hex');
    const config = path.join(world.home, '.codex', 'config.toml');
    const before = fs.readFileSync(config, 'utf8') + `\n[hooks.state."${path.join(world.home, '.codex', 'hooks.json')}:stop:0:0"]\ntrusted_hash = "sha256:${hash}"\n`;
    fs.writeFileSync(config, before);
    const u = await manager.create('codex', world.project('c-user-hooks'));
    await idle(u);
    u.prompt('with the user hooks');
    await idle(u);
    assert.equal(u.out(), 'Echo: with the user hooks');
    await until(() => fs.existsSync(log), 'the user hook to run');
    assert.equal(fs.readFileSync(log, 'utf8'), 'trusted\n');
    assert.doesNotMatch(fs.readFileSync(config, 'utf8').slice(before.length), /session-flags/, 'our hooks are not written into config.toml');
    fs.rmSync(path.join(world.home, '.codex', 'hooks.json'));
    await u.kill();
  });

  it('kill ends codex and every process it started, leaving no app-server behind', async () => {
    const pids = [s.pid, ...descendants(s.pid)];
    await s.kill();
    assert.equal(s.state, 'exited');
    await until(() => !pids.some(alive), `${pids.join(' ')} to end`, 10_000);
    await until(() => agentProcesses(world.home).length === 0, `no codex process left (${agentProcesses(world.home).join(', ')})`, 10_000);
  });

  it('without --no-daemon, the per-session -c overrides keep codex off the shared app-server daemon; kill leaves nothing', async () => {
    // Measured with 0.169.0: plain `codex` starts `codex app-server` in the background, shared
    // by later runs; any -c override (ours are hooks) makes it run in-process instead.
    const yaml = path.join(world.home, '.config', 'anvillm', 'backends.yaml');
    fs.appendFileSync(yaml, '  codex:\n    command: [codex, --dangerously-bypass-approvals-and-sandbox]\n');
    const d = await manager.create('codex', world.project('c2'));
    await idle(d);
    d.prompt('no daemon');
    await idle(d);
    assert.equal(d.out(), 'Echo: no daemon');
    assert.deepEqual(agentProcesses(world.home).filter((p) => p.includes('app-server')), []);
    await d.kill();
    await until(() => agentProcesses(world.home).length === 0, `no codex process left (${agentProcesses(world.home).join(', ')})`, 10_000);
  });
});
