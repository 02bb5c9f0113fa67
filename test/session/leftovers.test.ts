/**
 * Nothing left behind (DESIGN §2 Lifetimes): a refused or failed start leaves no tmux session,
 * window or placeholder, no state directory and no agent file; a daemon that stops, or was killed
 * in the middle of a start, leaves no placeholder; a start that times out leaves no process.
 * Real tmux on a private server, real bubblewrap, the fake agent and the Kiro stand-in.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { SessionManager } from '../../src/session/manager.js';
import { descendants } from '../../src/session/processes.js';
import { fakeEnv, fakeKiroBin, type FakeEnv } from '../fixtures/fake-env.js';
import { alive, needs, until } from '../helpers.js';


describe('nothing left behind', { skip: needs('tmux', 'bwrap') }, () => {
  let world: FakeEnv;
  let manager: SessionManager;
  let policyFile = '';
  let goodPolicy = '';

  const tmux = (...args: string[]): string => {
    try {
      return execFileSync('tmux', ['-S', world.env['ANVILLM_TMUX_SOCKET']!, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      return ''; // no server: nothing there
    }
  };
  /** Every window of the private server, as "session:name". */
  const windows = () => tmux('list-windows', '-a', '-F', '#{session_name}:#{window_name}').split('\n').filter((l) => l !== '');
  const stateDirs = () => fs.readdirSync(path.join(world.env['XDG_STATE_HOME']!, 'anvillm', 'sessions'), { withFileTypes: true }).map((d) => d.name);
  const kiroFiles = () => fs.readdirSync(path.join(world.env['HOME']!, '.kiro', 'agents')).filter((f) => f.startsWith('anvillm-'));
  /** No provider can enforce it: landrun is asked for, and this PATH has none. */
  const refuse = () => fs.writeFileSync(policyFile, goodPolicy.replace('provider: auto', 'provider: landrun'));

  before(() => {
    world = fakeEnv();
    const bin = fakeKiroBin(world);
    const noLandrun = (world.env['PATH'] ?? '').split(':').filter((d) => d !== '' && !fs.existsSync(path.join(d, 'landrun')));
    world.env['PATH'] = [bin, ...noLandrun].join(':');
    fs.mkdirSync(path.join(world.env['HOME']!, '.kiro', 'agents'), { recursive: true });
    fs.mkdirSync(path.join(world.env['XDG_STATE_HOME']!, 'anvillm', 'sessions'), { recursive: true });
    policyFile = path.join(world.env['HOME']!, '.config', 'anvillm', 'sandbox.yaml');
    goodPolicy = fs.readFileSync(policyFile, 'utf8');
    assert.match(goodPolicy, /provider: auto/);
    manager = world.manager();
  });
  after(async () => {
    await manager.killAll().catch(() => {});
    await manager.close();
    world.remove();
  });

  it('a refused start on a server with nothing of ours: no tmux session, window, placeholder, state directory or agent file', async () => {
    refuse();
    try {
      await assert.rejects(manager.create('fake', world.project('refused')), /no sandbox for/);
      await assert.rejects(manager.create('kiro-cli', world.project('refused')), /no sandbox for/);
    } finally {
      fs.writeFileSync(policyFile, goodPolicy);
    }
    await until(() => windows().length === 0, `no window left (there are: ${windows().join(' ')})`, 5000);
    assert.equal(tmux('list-sessions'), '', 'no tmux session');
    assert.deepEqual(stateDirs(), [], 'no state directory');
    assert.deepEqual(kiroFiles(), [], 'no Kiro agent file');
    assert.deepEqual(manager.list(), []);
  });

  it('a refused start beside a live session: that session and its window only', async () => {
    const live = await manager.create('fake', world.project('live'));
    await until(() => live.state === 'idle', 'idle');
    refuse();
    try {
      await assert.rejects(manager.create('fake', world.project('refused')), /no sandbox for/);
    } finally {
      fs.writeFileSync(policyFile, goodPolicy);
    }
    assert.deepEqual(windows(), [`anvillm-fake:${live.id}`]);
    assert.deepEqual(stateDirs(), [live.id]);
    assert.equal(live.state, 'idle');
    await live.kill();
    await until(() => windows().length === 0, 'the killed window to go', 5000);
  });

  it('a start that times out: listed as error, its window and every process gone', async () => {
    const s = await manager.create('stuck', world.project('stuck'));
    const pids = [s.pid, ...descendants(s.pid)];
    await until(() => s.state === 'error', 'the start to time out', 10_000);
    assert.equal(manager.list().find((i) => i.id === s.id)?.state, 'error', 'still listed: a failure must be visible');
    await until(() => !pids.some(alive), `its processes (${pids.join(' ')}) to end`, 5000);
    assert.deepEqual(windows(), []);
    await s.kill();
    assert.equal(manager.get(s.id), undefined);
  });

  it('a daemon that stops in the middle of a start, or was killed there, leaves no placeholder', async () => {
    // What a start does first: it makes the tmux session, with a placeholder window.
    await manager.tmux.inheritedEnv('anvillm-fake');
    assert.deepEqual(windows(), ['anvillm-fake:anvillm-starting']);
    await manager.close();
    await until(() => windows().length === 0, 'the placeholder to go with the daemon', 5000);
    // A daemon killed there: the next one removes what it left.
    tmux('new-session', '-d', '-s', 'anvillm-fake', '-n', 'anvillm-starting', 'sleep', 'infinity');
    assert.deepEqual(windows(), ['anvillm-fake:anvillm-starting']);
    manager = world.manager();
    await manager.adopt();
    assert.deepEqual(windows(), []);
  });
});
