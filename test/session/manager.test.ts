/**
 * Sessions end to end: real tmux on a private socket, real bubblewrap, and a scripted fake agent
 * (test/fixtures/fake-agent.ts) defined as a user backend in backends.yaml.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { SessionManager } from '../../src/session/manager.js';
import type { Session } from '../../src/session/session.js';
import type { SessionEvent, State } from '../../src/session/types.js';
import { fakeEnv, type FakeEnv } from '../fixtures/fake-env.js';
import { alive, needs, repoRoot, until } from '../helpers.js';



describe('sessions on tmux with a fake agent', { skip: needs('tmux', 'bwrap') }, () => {
  let world: FakeEnv;
  let env: NodeJS.ProcessEnv;
  let manager: SessionManager;
  const events: SessionEvent[] = [];
  const states = (id: string): State[] => events.flatMap((e) => (e.id === id && e.kind === 'state' ? [e.to] : []));

  before(() => {
    world = fakeEnv();
    env = world.env;
    manager = world.manager();
    manager.subscribe((e) => events.push(e));
  });

  after(async () => {
    await manager.killAll().catch(() => {});
    await manager.close();
    world.remove();
  });

  const project = (name: string) => world.project(name);
  const idle = (s: Session) => until(() => s.state === 'idle', () => `${s.id} to be idle (it is ${s.state}; err: ${s.err()})`);

  it('starts: answers the startup dialog, becomes idle, and is listed', async () => {
    const s = await manager.create('fake', project('p1'), 'first');
    assert.equal(s.state, 'starting');
    assert.match(s.id, /^[0-9a-f]{8}$/);
    await idle(s);
    assert.deepEqual(states(s.id), ['idle']);
    assert.ok(events.some((e) => e.id === s.id && e.kind === 'new'));
    assert.match(await s.screen(), /Trusted\./);
    const info = manager.list().find((i) => i.id === s.id)!;
    assert.deepEqual([info.backend, info.alias, info.cwd, info.state], ['fake', 'first', fs.realpathSync(path.join(world.root, 'p1')), 'idle']);
    assert.ok(info.pid! > 0);
    assert.equal(manager.get('first'), s);
  });

  it('a prompt: running, then idle with the response in out and the conversation in transcript', async () => {
    const s = manager.get('first')!;
    const before = events.length;
    s.prompt('hello');
    assert.equal(s.state, 'running');
    await idle(s);
    assert.equal(s.out(), 'You said: hello (5 bytes)');
    assert.equal(s.transcript(), 'USER: hello\n\nASSISTANT: You said: hello (5 bytes)\n\n');
    assert.deepEqual(
      events.slice(before).filter((e) => e.id === s.id).map((e) => (e.kind === 'state' ? `${e.from}>${e.to}` : e.kind)),
      ['idle>running', 'out', 'running>idle'],
    );
  });

  it('stays running while a tool runs in a child process, however quiet, and queues prompts in order', async () => {
    const s = manager.get('first')!;
    s.prompt('sleep 1.5');
    s.prompt('second');
    assert.equal(s.queued, 1, 'the second prompt waits');
    await new Promise((r) => setTimeout(r, 900)); // the agent has printed nothing for longer than quiet_ms
    assert.equal(s.state, 'running', 'a child process means the agent is working');
    await until(() => s.out() === 'You said: second (6 bytes)', 'the queued prompt to be answered');
    await idle(s);
    assert.match(s.transcript(), /USER: sleep 1\.5\n\nASSISTANT: You said: sleep 1\.5 \(9 bytes\)\n\nUSER: second\n\nASSISTANT: You said: second/);
  });

  it('prepends the context to every prompt, and tells how to attach', async () => {
    const s = manager.get('first')!;
    s.context = 'Be brief.';
    s.prompt('why?');
    await idle(s);
    assert.equal(s.out(), 'You said: Be brief. (15 bytes)');
    const log = fs.readFileSync(path.join(s.cwd, 'prompts.log'), 'utf8').trim().split('\n');
    assert.equal(JSON.parse(log.at(-1)!), 'Be brief.\n\nwhy?');
    s.context = '';
    assert.deepEqual(s.attachCommand(), ['tmux', '-S', env['ANVILLM_TMUX_SOCKET'], 'attach-session', '-t', `anvillm-fake:${s.id}`]);
  });

  it('a prompt cannot end its own bracketed paste: escape characters are removed', async () => {
    const s = manager.get('first')!;
    s.prompt('before\x1b[201~\r/model opus');
    await idle(s);
    const log = fs.readFileSync(path.join(s.cwd, 'prompts.log'), 'utf8').trim().split('\n');
    assert.equal(JSON.parse(log.at(-1)!), 'before[201~/model opus', 'one prompt, its escape removed');
  });

  it('stop interrupts the agent', async () => {
    const s = manager.get('first')!;
    s.prompt('sleep 30');
    assert.equal(s.state, 'running');
    await s.stop(); // at once: the stop waits for the prompt's paste and Enter, never lost in them
    await idle(s);
    assert.match(await s.screen(), /interrupted/);
  });

  it('refuses slash commands that need the terminal, prompts to an exited session, and bad names', async () => {
    const s = manager.get('first')!;
    assert.throws(() => s.prompt('/model opus'), /^Error: \/model needs the terminal: use Attach$/);
    for (const bad of ['deadbeef', 'list', 'has space', 'a/b', '']) assert.throws(() => s.setAlias(bad), /bad alias/);
    const other = await manager.create('fake', project('p2'));
    assert.throws(() => other.setAlias('first'), /alias "first" already exists/);
    other.setAlias('second');
    assert.equal(manager.get('second'), other);
    await assert.rejects(manager.create('fake', project('p3'), 'second'), /alias "second" already exists/);
    await other.kill();
    assert.equal(other.state, 'exited');
    assert.throws(() => other.prompt('hi'), /has exited/);
    await assert.rejects(manager.create('nope', world.root), /no backend "nope"; have: claude kiro-cli codex gemini fake stuck missing/);
    await assert.rejects(manager.create('missing', world.root), /no-such-agent-program is not installed: apt-get install no-such-agent/);
    await assert.rejects(manager.create('fake', path.join(world.root, 'nowhere')), /does not exist: give an existing directory/);
    await assert.rejects(manager.create('fake', path.join(world.root, 'home', '.config', 'anvillm', 'backends.yaml')), /is not a directory/);
  });

  it('restart: the same id, a new window of the same name, a new agent process, starting again', async () => {
    const s = manager.get('first')!;
    const [windowId, pid] = [s.windowId, s.pid];
    await s.restart();
    assert.equal(s.state, 'starting');
    assert.equal(alive(pid), false, 'the old agent is gone once restart returns');
    await idle(s);
    assert.equal(manager.get('first'), s);
    assert.notEqual(s.windowId, windowId, 'a new window: tmux 3.3a cannot respawn a pane safely');
    const windows = await manager.tmux.listWindows('anvillm-');
    assert.deepEqual(windows.filter((w) => w.name === s.id).map((w) => w.windowId), [s.windowId], 'one window of its name');
    assert.notEqual(s.pid, pid, 'a new process');
    s.prompt('after restart');
    await idle(s);
    assert.equal(s.out(), 'You said: after restart (13 bytes)');
  });

  it('save writes the conversation; load needs a backend that can', async () => {
    const s = manager.get('first')!;
    const file = await s.save('saved.txt');
    assert.equal(file, path.join(s.cwd, 'saved.txt'));
    assert.equal(fs.readFileSync(file, 'utf8'), s.transcript());
    assert.match(fs.readFileSync(file, 'utf8'), /^USER: hello\n\nASSISTANT: You said: hello/);
    await assert.rejects(s.load('saved.txt'), /fake cannot load a saved conversation: use Attach/);
  });

  it('a startup that never becomes ready: error, with the screen in err', async () => {
    const s = await manager.create('stuck', project('p6'));
    await until(() => s.state === 'error', 'the startup to time out');
    assert.match(s.err(), /did not become ready within 1 s/);
    // Announced once its processes are gone.
    await until(() => events.some((e) => e.id === s.id && e.kind === 'error'), 'the error event');
    await s.kill();
  });

  it('an agent that crashes: exited, with its status and last screen lines in err', async () => {
    const s = await manager.create('fake', project('p4'));
    await idle(s);
    s.prompt('/crash');
    await until(() => s.state === 'exited', 'the crash', 10_000);
    // tmux 3.3a sometimes never learns a pane's exit status (pane_dead_status stays empty even
    // seconds later; seen when windows of the same server are killed meanwhile): then it is unknown.
    await until(() => events.some((e) => e.id === s.id && e.kind === 'exit'), 'the exit event');
    const exit = events.find((e) => e.id === s.id && e.kind === 'exit');
    assert.ok(exit && exit.kind === 'exit' && (exit.status === 3 || exit.status === null), JSON.stringify(exit));
    assert.match(s.err(), /exited with status (3|unknown)/);
    assert.match(s.err(), /fatal: crashing as asked/);
    // The dead window goes (tmux 3.3a can crash on a control client attaching beside a dead pane).
    const deadWindow = s.windowId;
    let windows = await manager.tmux.listWindows('anvillm-');
    await until(() => !windows.some((w) => w.windowId === deadWindow), 'the dead window to go', 5000, async () => (windows = await manager.tmux.listWindows('anvillm-')));
    // Restart brings the agent back, in a new window of the same name.
    await s.restart();
    await idle(s);
    assert.notEqual(s.windowId, deadWindow);
    s.prompt('back again');
    await idle(s);
    assert.match(s.out(), /You said: back again/);
  });

  it('a cwd with spaces, quotes, $(…) and a newline, and a 10 kB prompt of every character, arrive exact', async () => {
    const dir = project(`we ird 'q" $(touch pwned) \`x\` #{pane_id} ;\nline`);
    const s = await manager.create('fake', dir);
    await idle(s);
    let prompt = '';
    for (let c = 0x20; c < 0x7f; c++) prompt += String.fromCharCode(c);
    prompt += '\n\t"quoted" \'single\' $(touch pwned) `y` #{pane_id} ; \\ é ✓ 🙂\nsecond line';
    while (prompt.length < 10_000) prompt += `\n${prompt.slice(0, 10_000 - prompt.length - 1)}`;
    s.prompt(prompt);
    await idle(s);
    const log = path.join(dir, 'prompts.log');
    assert.deepEqual(fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as string), [prompt], 'one submission, byte-exact, in the right directory');
    assert.equal(fs.existsSync(path.join(dir, 'pwned')), false);
    assert.equal(s.out(), `You said: ${prompt.split('\n')[0]} (${Buffer.byteLength(prompt)} bytes)`);
    await s.kill();
  });

  // (The killed daemon kept its own sessions.json: one daemon per user, so the list is its.)
  it('a restarted daemon re-adopts the windows still alive, after the old one was killed with SIGKILL', async () => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'dist', 'test', 'fixtures', 'manager-child.js'), 'fake', project('p5'), 'survivor'], { env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await until(() => /idle/.test(out), 'the other daemon’s session to be idle', 20_000);
    const id = out.split('\n')[0]!;
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    // And a session whose window is gone by now.
    const records = path.join(env['XDG_STATE_HOME']!, 'anvillm', 'sessions.json');
    const saved = JSON.parse(fs.readFileSync(records, 'utf8')) as { sessions: object[] };
    saved.sessions.push({ ...saved.sessions[0], id: '0badc0de', alias: null, windowId: '@9999' });
    fs.writeFileSync(records, JSON.stringify(saved));
    const fresh = world.manager();
    const seen: SessionEvent[] = [];
    fresh.subscribe((e) => seen.push(e));
    try {
      await fresh.adopt();
      assert.equal(fresh.get('0badc0de')?.state, 'exited', 'the one whose window is gone is kept, as exited, for restart');
      assert.equal(fresh.get('0badc0de')?.pid, 0, 'its recorded pid may be another process by now');
      const s = fresh.get('survivor');
      assert.ok(s, 'the session is back, by alias');
      assert.equal(s.id, id);
      assert.equal(s.cwd, fs.realpathSync(path.join(world.root, 'p5')));
      await idle(s);
      s.prompt('still there?');
      await idle(s);
      assert.equal(s.out(), 'You said: still there? (12 bytes)');
      await s.kill();
    } finally {
      await fresh.close();
    }
  });
});
