/**
 * The built-in kiro-cli backend against a documentation-based stand-in for the Kiro CLI
 * (test/fixtures/fake-kiro.ts: Kiro cannot be installed here; its header names the kiro.dev pages
 * it follows). Real tmux, real bubblewrap; the built-in definition is used as shipped: its state
 * comes from the hooks of the agent file the kiro driver writes (~/.kiro/agents/anvillm-<id>.json),
 * the quiet fallback when they do not come.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { SessionManager } from '../../src/session/manager.js';
import { descendants } from '../../src/session/processes.js';
import type { Session } from '../../src/session/session.js';
import { fakeEnv, fakeKiroBin, type FakeEnv } from '../fixtures/fake-env.js';
import { alive, needs, until } from '../helpers.js';


describe('kiro-cli (a documentation-based stand-in)', { skip: needs('tmux', 'bwrap') }, () => {
  let world: FakeEnv;
  let manager: SessionManager;
  let pathWithKiro = '';
  let s: Session;
  let agents = '';
  const mine = '{"name": "mine", "hooks": {"stop": [{"command": "true"}]}}\n';
  let mineStat: fs.Stats;

  before(() => {
    world = fakeEnv();
    const bin = fakeKiroBin(world);
    pathWithKiro = `${bin}:${world.env['PATH']}`;
    // The user's own agent: never touched.
    agents = path.join(world.env['HOME']!, '.kiro', 'agents');
    fs.mkdirSync(agents, { recursive: true });
    fs.writeFileSync(path.join(agents, 'mine.json'), mine);
    mineStat = fs.statSync(path.join(agents, 'mine.json'));
    manager = world.manager();
  });
  after(async () => {
    await manager.killAll().catch(() => {});
    await manager.close();
    world.remove();
  });

  const idle = (x: Session) => until(() => x.state === 'idle', () => `${x.id} to be idle (it is ${x.state}; err: ${x.err()})`);
  const agentFile = (x: Session) => path.join(agents, `anvillm-${x.id}.json`);

  it('a missing kiro-cli is refused, saying how to install it', async () => {
    await assert.rejects(manager.create('kiro-cli', world.project('none')), /^Error: kiro-cli is not installed: curl -fsSL https:\/\/cli\.kiro\.dev\/install \| bash/);
    assert.equal(manager.list().length, 0);
    assert.ok(manager.backends().some((b) => b.name === 'kiro-cli' && b.label === 'Kiro' && !b.available));
  });

  it('starts with all tools trusted and becomes idle at its prompt', async () => {
    world.env['PATH'] = pathWithKiro;
    s = await manager.create('kiro-cli', world.project('k1'));
    await idle(s);
    const screen = await s.screen();
    assert.match(screen, /All tools are now trusted/);
    assert.match(screen, new RegExp(`^\\[anvillm-${s.id}\\] !>$`, 'm'), 'started with its own agent');
  });

  it('its agent file: Kiro\'s default tools and steering, plus our never-failing hooks', () => {
    const agent = JSON.parse(fs.readFileSync(agentFile(s), 'utf8')) as Record<string, unknown> & { hooks: Record<string, { command: string }[]> };
    assert.equal(agent['name'], `anvillm-${s.id}`);
    assert.deepEqual(agent['tools'], ['*']);
    assert.equal(agent['includeMcpJson'], true);
    assert.ok((agent['resources'] as string[]).includes('file://.kiro/steering/**/*.md'));
    assert.deepEqual(Object.keys(agent.hooks).sort(), ['stop', 'userPromptSubmit']);
    // Each reports its event into the session's hooks/ (src/backends/hook-inbox.ts).
    for (const [event, [hook]] of Object.entries(agent.hooks)) assert.match(hook!.command, new RegExp(`^d='[^']*/sessions/${s.id}/hooks'; \\{ printf '%s\\\\n' '${event}';`));
  });

  it('a prompt: running, then idle with exactly the answer in out', async () => {
    s.prompt('hello kiro');
    assert.equal(s.state, 'running');
    await idle(s);
    assert.equal(s.out(), 'Kiro heard: hello kiro (turn 1)');
    assert.equal(s.transcript(), 'USER: hello kiro\n\nASSISTANT: Kiro heard: hello kiro (turn 1)\n\n');
  });

  it('state comes from the hooks: a silent pause mid-answer stays running until the stop hook', async () => {
    s.prompt('pause 2');
    // Quiet (0.5 s, no child process, its prompt on the screen) would have ended the turn by now.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(s.state, 'running');
    await idle(s);
    assert.equal(s.out(), 'Let me think.\nPaused 2 seconds.');
    assert.equal(s.err(), '', 'no fallback: the hooks confirmed every prompt');
  });

  it('stays running while its shell tool runs, however quiet', async () => {
    s.prompt('sleep 1.5');
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(s.state, 'running');
    await idle(s);
    assert.equal(s.out(), 'Slept 1.5 seconds.');
  });

  it('stop interrupts the answer in progress', async () => {
    s.prompt('sleep 30');
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(s.state, 'running');
    await s.stop();
    await until(() => s.state === 'idle', 'idle after stop', 5000);
    assert.match(await s.screen(), new RegExp(`\\^C\\n\\n\\[anvillm-${s.id}\\] !>\\n$`));
  });

  it('allows /help, /agent list and /chat; refuses other slash commands: use Attach', async () => {
    assert.throws(() => s.prompt('/model claude'), /^Error: \/model needs the terminal: use Attach$/);
    assert.throws(() => s.prompt('/tools trust-all'), /use Attach/);
    s.prompt('/help');
    await idle(s);
    assert.match(s.out(), /\/chat save <path>/);
    s.prompt('/agent list');
    await idle(s);
    assert.equal(s.out(), `* anvillm-${s.id}`);
  });

  it('Save writes Kiro\'s own conversation file; Load gives it to a new session', async () => {
    const file = path.join(s.cwd, 'talk.json');
    fs.writeFileSync(file, 'old'); // Save overwrites, as a user asking to save there expects
    assert.equal(await s.save('talk.json'), file);
    await until(() => fs.readFileSync(file, 'utf8').startsWith('{'), 'the conversation file');
    await idle(s);
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as { history: { user: string }[] };
    assert.deepEqual(saved.history.map((t) => t.user), ['hello kiro', 'pause 2', 'sleep 1.5']);

    // Without a path, Kiro writes where the sandbox lets it: the session's state directory.
    const dflt = await s.save();
    assert.match(dflt, new RegExp(`/anvillm/sessions/${s.id}/saves/[^/]+\\.json$`));
    await until(() => fs.existsSync(dflt) && fs.readFileSync(dflt, 'utf8').startsWith('{'), 'the default save');
    await idle(s);

    const other = await manager.create('kiro-cli', world.project('k2'));
    await idle(other);
    await assert.rejects(other.load('no-such.json'), /no-such\.json does not exist/);
    // The sandbox shows a session only its own directory: the file is copied there.
    fs.copyFileSync(file, path.join(other.cwd, 'talk.json'));
    await other.load('talk.json');
    await idle(other);
    assert.match(other.out(), /Imported conversation state from .*talk\.json/);
    other.prompt('and now?');
    await idle(other);
    assert.equal(other.out(), 'Kiro heard: and now? (turn 4)', 'the loaded conversation goes on');
    assert.ok(fs.existsSync(agentFile(other)));
    await other.kill();
    assert.ok(!fs.existsSync(agentFile(other)), 'its agent file goes with it');
  });

  it("a command naming the user's own agent: that agent's hooks run, ours are not added, quiet decides", async () => {
    const dir = world.project('hooked');
    fs.mkdirSync(path.join(dir, '.kiro', 'agents'), { recursive: true });
    fs.writeFileSync(
      path.join(dir, '.kiro', 'agents', 'watcher.json'),
      JSON.stringify({ name: 'watcher', hooks: { userPromptSubmit: [{ command: 'cat > submitted.json' }], stop: [{ command: 'cat > stopped.json' }] } }),
    );
    fs.writeFileSync(
      path.join(world.env['HOME']!, '.config', 'anvillm', 'backends.yaml'),
      `${fs.readFileSync(path.join(world.env['HOME']!, '.config', 'anvillm', 'backends.yaml'), 'utf8')}  kiro-cli:\n    command: [kiro-cli, chat, --legacy-ui, --trust-all-tools, --agent, watcher]\n`,
    );
    const h = await manager.create('kiro-cli', dir);
    await idle(h);
    assert.match(await h.screen(), /^\[watcher\] !>$/m);
    assert.ok(!fs.existsSync(agentFile(h)), 'no agent file of ours');
    h.prompt('with hooks');
    await idle(h);
    assert.equal(h.out(), 'Kiro heard: with hooks (turn 1)');
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'submitted.json'), 'utf8')), { hook_event_name: 'userPromptSubmit', cwd: dir, prompt: 'with hooks' });
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'stopped.json'), 'utf8')), { hook_event_name: 'stop', cwd: dir });
    assert.match(h.err(), /no hook from kiro-cli confirmed the prompt within 3 s: its state is read from the screen/);
    // The next turn starts on the screen at once.
    const started = Date.now();
    h.prompt('again');
    await idle(h);
    assert.equal(h.out(), 'Kiro heard: again (turn 2)');
    assert.ok(Date.now() - started < 2500, `quiet from the start (${Date.now() - started} ms)`);
    await h.kill();
  });

  it('a start that times out leaves no agent file (and no hook watcher) behind', async () => {
    const yaml = path.join(world.env['HOME']!, '.config', 'anvillm', 'backends.yaml');
    fs.writeFileSync(yaml, `${fs.readFileSync(yaml, 'utf8')}  kiro-stuck:\n    base: kiro-cli\n    command: [kiro-cli, chat, --legacy-ui, --trust-all-tools]\n    startup: {timeout: 1s, ready: "never shown"}\n`);
    const stuck = await manager.create('kiro-stuck', world.project('stuck'));
    assert.ok(fs.existsSync(agentFile(stuck)), 'written for its start');
    await until(() => stuck.state === 'error', 'the start to time out', 10_000);
    assert.match(stuck.err(), /did not become ready within 1 s/);
    assert.ok(!fs.existsSync(agentFile(stuck)), 'its agent file is removed when the start times out');
    await stuck.kill();
  });

  it('kill ends it and the tool it was running', async () => {
    s.prompt('sleep 60');
    await until(() => descendants(s.pid).some((p) => comm(p) === 'sleep'), 'the tool to run');
    const pids = [s.pid, ...descendants(s.pid)];
    await s.kill();
    assert.equal(s.state, 'exited');
    await until(() => !pids.some(alive), `${pids.join(' ')} to end`, 5000);
    assert.ok(!fs.existsSync(agentFile(s)), 'its agent file is removed');
  });

  it("the user's own agents are untouched", () => {
    assert.deepEqual(fs.readdirSync(agents), ['mine.json']);
    assert.equal(fs.readFileSync(path.join(agents, 'mine.json'), 'utf8'), mine);
    assert.equal(fs.statSync(path.join(agents, 'mine.json')).mtimeMs, mineStat.mtimeMs);
  });
});

function comm(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}
