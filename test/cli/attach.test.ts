/**
 * `anvillm attach` for real: the built command runs in a terminal (a pane of a second, private
 * tmux server standing in for the user's terminal), attaches to the agent's window, shows its
 * screen, and returns with status 0 when the user detaches with C-b d. Errors say what to do.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { main } from '../../src/cli/anvillm.js';
import type { CommandIO } from '../../src/cli/io.js';
import type { SessionManager } from '../../src/session/manager.js';
import { fakeEnv, postAgent, type FakeEnv, type PostedAgent } from '../fixtures/fake-env.js';
import { needs, repoRoot, until } from '../helpers.js';

const cli = path.join(repoRoot, 'dist', 'src', 'cli', 'anvillm.js');

describe('anvillm attach', { skip: needs('tmux', 'bwrap') }, () => {
  let world: FakeEnv;
  let env: NodeJS.ProcessEnv;
  let manager: SessionManager;
  let daemon: PostedAgent;
  let terminal: string; // the socket of the tmux server that plays the user's terminal

  const term = (...args: string[]) => execFileSync('tmux', ['-S', terminal, ...args], { env, encoding: 'utf8' });

  /** The terminals attached to the agents' tmux (the daemon's own control-mode client aside). */
  const terminals = () =>
    execFileSync('tmux', ['-S', world.env['ANVILLM_TMUX_SOCKET']!, 'list-clients', '-F', '#{client_control_mode} #{session_name}:#{window_name}'], { env, encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.startsWith('0 '))
      .map((l) => l.slice(2));

  async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const io: CommandIO = { env, stdout: (l) => out.push(l), stderr: (l) => err.push(l) };
    const code = await main(args, io);
    return { code, out: out.join('\n'), err: err.join('\n') };
  }

  before(async () => {
    world = fakeEnv();
    env = { ...world.env, NAMESPACE: path.join(world.root, 'ns') };
    daemon = await postAgent(world, env);
    manager = daemon.manager;
    terminal = path.join(world.root, 'terminal.sock');
    const conf = path.join(world.root, 'terminal.conf');
    // The pane stays after the command ends, so its last screen can be read.
    fs.writeFileSync(conf, 'set -g remain-on-exit on\n');
    term('-f', conf, 'start-server', ';', 'set', '-g', 'exit-empty', 'off');
  });
  after(async () => {
    try {
      term('kill-server');
    } catch {
      // already gone
    }
    await daemon.close();
    world.remove();
  });

  it("shows the agent's screen in this terminal; C-b d detaches and returns 0, the agent running on", { timeout: 60_000 }, async () => {
    const s = await manager.create('fake', world.project('attach-proj'), 'watched');
    await until(() => s.state === 'idle', 'idle', 20_000);
    s.prompt('hello from before the attach');
    await until(() => s.out() !== '' && s.state === 'idle', 'the answer', 20_000);

    // In the terminal: `anvillm attach watched`, its exit status kept in a file. The argv goes
    // straight to tmux (more than one word: no shell), with the daemon's NAMESPACE.
    const status = path.join(world.root, 'attach-status');
    const runner = `const f = require('fs');
      const r = require('child_process').spawnSync(process.execPath, ${JSON.stringify([cli, 'attach', 'watched'])}, { stdio: 'inherit' });
      f.writeFileSync(${JSON.stringify(`${status}.part`)}, String(r.status ?? r.signal)); f.renameSync(${JSON.stringify(`${status}.part`)}, ${JSON.stringify(status)});`;
    term('new-session', '-d', '-s', 'user', '-x', '100', '-y', '30', '-e', `NAMESPACE=${env['NAMESPACE']}`, process.execPath, '-e', runner);
    const screen = () => term('capture-pane', '-p', '-t', 'user');
    await until(() => screen().includes('You said: hello from before the attach'), "the agent's screen in the terminal", 20_000);
    assert.deepEqual(terminals(), [`anvillm-fake:${s.id}`], "a terminal is attached to the session's window");
    assert.match(screen(), /Fake Agent 1\.0/);

    // What is typed there reaches the agent.
    term('send-keys', '-t', 'user', '-l', 'typed at the terminal');
    term('send-keys', '-t', 'user', 'Enter');
    await until(() => screen().includes('You said: typed at the terminal'), 'the typed prompt answered', 20_000);

    term('send-keys', '-t', 'user', 'C-b', 'd');
    await until(() => fs.existsSync(status), 'attach to return', 20_000);
    assert.equal(fs.readFileSync(status, 'utf8'), '0', `detaching is success:\n${screen()}`);
    assert.deepEqual(terminals(), [], "no terminal is left attached to the agent's tmux");
    assert.notEqual(s.state, 'exited', 'the agent runs on after the detach');
  });

  it('an unknown name, an exited session, no terminal: exit 1, saying what to do; bad usage exits 2', async () => {
    const unknown = await run('attach', 'nosuch');
    assert.equal(unknown.code, 1);
    assert.equal(unknown.err, 'anvillm attach: no session "nosuch": `anvillm ls` lists the sessions, by id and alias');

    const s = await manager.create('fake', world.project('gone-proj'));
    await until(() => s.state === 'idle', 'idle', 20_000);
    if (!process.stdin.isTTY) {
      const noTerminal = await run('attach', s.id);
      assert.equal(noTerminal.code, 1);
      assert.match(noTerminal.err, new RegExp(`^anvillm attach: attach needs a terminal; from elsewhere run: tmux -S \\S+ attach-session -t anvillm-fake:${s.id}$`));
    }
    // A session that ended by itself stays listed, exited; a killed one is gone.
    s.prompt('/crash');
    await until(() => s.state === 'exited', 'the crash', 10_000);
    const exited = await run('attach', s.id);
    assert.equal(exited.code, 1);
    assert.equal(exited.err, `anvillm attach: session ${s.id} has exited: there is no terminal to attach; \`anvillm read ${s.id} transcript\` shows what it did`);
    await s.kill();
    const killed = await run('attach', s.id);
    assert.equal(killed.code, 1);
    assert.match(killed.err, new RegExp(`^anvillm attach: no session "${s.id}"`));

    assert.equal((await run('attach')).code, 2);
    assert.equal((await run('attach', s.id, 'extra')).code, 2);
    const help = await run('attach', '--help');
    assert.equal(help.code, 0);
    assert.match(help.out, /^usage: anvillm attach <id\|alias>\n/);
  });
});
