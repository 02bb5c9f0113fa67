/**
 * Resume after a reboot (issue 14): a session whose window died with the tmux server is kept by
 * the next daemon as exited (from sessions.json), and restart brings it back in its directory.
 * Real tmux on a private server (killed, as a reboot would), real bubblewrap, the fake agent; the
 * same with the real Claude Code, its conversation included, is in test/backends/claude.test.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { SessionManager } from '../../src/session/manager.js';
import type { Session } from '../../src/session/session.js';
import { fakeEnv, type FakeEnv } from '../fixtures/fake-env.js';
import { needs, until } from '../helpers.js';

describe('resume after a reboot', { skip: needs('tmux', 'bwrap') }, () => {
  let world: FakeEnv;
  let manager: SessionManager;
  const idle = (s: Session) => until(() => s.state === 'idle', () => `${s.id} to be idle (it is ${s.state}; err: ${s.err()})`, 20_000);

  before(() => {
    world = fakeEnv();
    manager = world.manager();
  });
  after(async () => {
    await manager.killAll().catch(() => {});
    await manager.close();
    world.remove();
  });

  it('the tmux server gone: exited, kept by the next daemon, restarted in its directory; kill then removes it', async () => {
    const dir = world.project('resumed');
    const s = await manager.create('fake', dir, 'resumed');
    await idle(s);
    s.prompt('before');
    await idle(s);
    execFileSync('tmux', ['-S', world.env['ANVILLM_TMUX_SOCKET']!, 'kill-server']);
    await until(() => s.state === 'exited', 'the session to see its window gone');
    assert.equal(manager.get('resumed'), s, 'it stays listed: it did not end by a kill');
    await manager.close();

    manager = world.manager();
    await manager.adopt();
    const again = manager.get('resumed')!;
    assert.ok(again, 'kept from sessions.json');
    assert.deepEqual([again.id, again.state, again.cwd], [s.id, 'exited', s.cwd]);
    assert.deepEqual(manager.list().map((i) => [i.id, i.state, i.pid]), [[s.id, 'exited', null]]);
    await again.restart();
    await idle(again);
    again.prompt('after');
    await idle(again);
    assert.equal(again.out(), 'You said: after (5 bytes)');
    const log = fs.readFileSync(path.join(dir, 'prompts.log'), 'utf8');
    assert.deepEqual(log.trim().split('\n').map((l) => JSON.parse(l) as string), ['before', 'after'], 'both in its directory');
    await again.kill();
    assert.equal(manager.get('resumed'), undefined);
    // Gone for good: the daemon after this one does not bring it back.
    await manager.close();
    manager = world.manager();
    await manager.adopt();
    assert.deepEqual(manager.list(), []);
  });
});
