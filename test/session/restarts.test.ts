/**
 * Clumsy clients hurt no one else (issue 18): restarts written to one session from several
 * connections at once, with another session watched; no process of the old agents outlives them.
 * Real tmux on a private server, real bubblewrap, the fake agent, agent/ over a unix socket.
 *
 * Before: tmux 3.3a's server exited ("fatal: not enough data", control.c) within some hundreds of
 * such restarts — a pane respawned while our control client had its output pending — and every
 * session on it ended; and bwrap processes forked while their parent was being ended were left
 * behind, reparented to pid 1.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Client } from '../../src/ninep/client.js';
import { OREAD } from '../../src/ninep/constants.js';
import type { SessionManager } from '../../src/session/manager.js';
import { descendants, processIdentity } from '../../src/session/processes.js';
import type { Session } from '../../src/session/session.js';
import { fakeEnv, serveAgent, type FakeEnv, type ServedAgent } from '../fixtures/fake-env.js';
import { needs, until } from '../helpers.js';

const CLIENTS = 3;
const RESTARTS_EACH = 25;

describe('restarts from many clients', { skip: needs('tmux', 'bwrap') }, () => {
  let world: FakeEnv;
  let served: ServedAgent;
  let manager: SessionManager;
  let watched: Session;
  let target: Session;

  const idle = (s: Session) => until(() => s.state === 'idle', () => `${s.id} to be idle (it is ${s.state}; err: ${s.err()})`, 30_000);
  const serverAlive = () => {
    try {
      execFileSync('tmux', ['-S', world.env['ANVILLM_TMUX_SOCKET']!, 'list-sessions'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  /**
   * Live processes (zombies are dead) whose command line names the session's state directory —
   * the sandbox binds it — and that are not in the tree of its agent now.
   */
  const leftovers = (s: Session): string[] => {
    const marker = path.join(world.env['XDG_STATE_HOME']!, 'anvillm', 'sessions', s.id);
    const current = new Set(s.ended ? [] : [s.pid, ...descendants(s.pid)]);
    const found: string[] = [];
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry) || current.has(Number(entry)) || processIdentity(Number(entry)) === null) continue;
      try {
        const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'latin1');
        if (cmdline.includes(marker)) found.push(`${entry}: ${cmdline.replace(/\0/g, ' ').slice(0, 60)}`);
      } catch {
        // gone meanwhile
      }
    }
    return found;
  };

  before(async () => {
    world = fakeEnv();
    served = await serveAgent(world);
    manager = served.manager;
    watched = await manager.create('fake', world.project('watched'), 'watched');
    target = await manager.create('fake', world.project('target'), 'target');
    await idle(watched);
    await idle(target);
  });
  after(async () => {
    await served.close();
    world.remove();
  });

  it(`${CLIENTS} connections each writing restart ${RESTARTS_EACH} times, 15 ms apart: the tmux server and the other session live on, nothing is left over`, { timeout: 300_000 }, async () => {
    const watcher = await Client.dial(`unix!${served.srv.socketPath}`);
    const events = await watcher.open('events', OREAD);
    let seen = '';
    const reading = (async () => {
      try {
        for await (const chunk of events.chunks()) seen += chunk.toString();
      } catch {
        // closed at the end
      }
    })();
    const clients = await Promise.all(Array.from({ length: CLIENTS }, () => Client.dial(`unix!${served.srv.socketPath}`)));
    const failures: string[] = [];
    await Promise.all(
      clients.map(async (c, n) => {
        await new Promise((r) => setTimeout(r, 15 * n));
        for (let i = 0; i < RESTARTS_EACH; i++) await c.writeFile('target/ctl', 'restart\n').catch((e: Error) => failures.push(e.message));
      }),
    );
    for (const c of clients) c.close();
    assert.deepEqual(failures, [], 'every restart ran (each waits for the one before)');
    assert.ok(serverAlive(), 'the tmux server lives');
    await idle(target);
    assert.equal(watched.state, 'idle');
    assert.doesNotMatch(seen, new RegExp(`^${watched.id} `, 'm'), 'not one event of the other session');
    const windows = await manager.tmux.listWindows('anvillm-');
    assert.deepEqual(windows.map((w) => w.name).sort(), [target.id, watched.id].sort(), 'one window each');
    assert.deepEqual(leftovers(target), [], 'no process of an old agent is left');
    target.prompt('still here?');
    await idle(target);
    assert.equal(target.out(), 'You said: still here? (11 bytes)');
    watched.prompt('and you?');
    await idle(watched);
    assert.equal(watched.out(), 'You said: and you? (8 bytes)');
    await events.close();
    watcher.close();
    await reading;
  });

  it('more lifecycle commands than may wait are refused, each with a short error; then kill leaves no process', async () => {
    const results = await Promise.allSettled(Array.from({ length: 12 }, () => target.restart()));
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
    assert.ok(refused.length >= 4, `some refused (${refused.length})`);
    for (const m of refused) {
      assert.match(m, new RegExp(`^session ${target.id} is busy`));
      assert.ok(Buffer.byteLength(m) <= 127, m);
    }
    await target.kill();
    assert.deepEqual(leftovers(target), [], 'a killed session leaves no process');
    assert.ok(serverAlive());
    assert.equal(watched.state, 'idle');
  });
});
