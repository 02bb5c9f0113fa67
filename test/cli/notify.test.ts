/** anvillm-notify against a stand-in notify-send on PATH that records its arguments. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { agentTree } from '../../src/agentfs/agentfs.js';
import type { CommandIO } from '../../src/cli/io.js';
import { notify } from '../../src/cli/notify.js';
import { post, type Posted } from '../../src/ninep/namespace.js';
import { Server } from '../../src/ninep/server.js';
import type { SessionManager } from '../../src/session/manager.js';
import { fakeEnv, type FakeEnv } from '../fixtures/fake-env.js';
import { needs, until } from '../helpers.js';

describe('anvillm-notify', { skip: needs('tmux', 'bwrap') }, () => {
  let world: FakeEnv;
  let env: NodeJS.ProcessEnv;
  let manager: SessionManager;
  let posted: Posted;
  let server: Server;
  let log: string;

  before(async () => {
    world = fakeEnv();
    const bin = path.join(world.root, 'bin');
    fs.mkdirSync(bin);
    log = path.join(world.root, 'notified');
    // The stand-in: records each call's arguments, one per line, then a blank line.
    fs.writeFileSync(path.join(bin, 'notify-send'), `#!/bin/sh\nprintf '%s\\n' "$@" >> ${JSON.stringify(log)}\necho >> ${JSON.stringify(log)}\n`, { mode: 0o755 });
    env = { ...world.env, NAMESPACE: path.join(world.root, 'ns'), PATH: `${bin}:${world.env['PATH']}` };
    manager = world.manager();
    server = new Server(agentTree(manager));
    posted = await post('agent', server, env);
  });
  after(async () => {
    await posted.close();
    await manager.killAll().catch(() => {});
    await manager.close();
    world.remove();
  });

  it('notifies each running → idle with the directory, the alias and the answer; follows a restarted daemon', async () => {
    const controller = new AbortController();
    const lines: string[] = [];
    const io: CommandIO = { env, stdout: (l) => lines.push(l), stderr: (l) => lines.push(l) };
    const running = notify(io, { signal: controller.signal, retryMs: 100 });
    try {
      const s = await manager.create('fake', world.project('notify-proj'), 'pinger');
      await until(() => s.state === 'idle', 'idle', 20_000);
      s.prompt('ping');
      // The stand-in writes the notification's lines, then a blank line: a notification is whole at that.
      await until(() => fs.existsSync(log) && fs.readFileSync(log, 'utf8').endsWith('\n\n'), 'a notification', 20_000);
      assert.equal(fs.readFileSync(log, 'utf8'), 'notify-proj (pinger)\nYou said: ping (4 bytes)\n\n');

      // The daemon goes away and comes back: notify dials again.
      await posted.close();
      server.closeAll();
      await until(() => lines.some((l) => /lost the daemon/.test(l)), 'notify to notice the loss');
      server = new Server(agentTree(manager));
      posted = await post('agent', server, env);
      await until(() => server.connections > 0, 'notify to dial again');
      s.prompt('again');
      await until(() => fs.readFileSync(log, 'utf8').includes('again'), 'a notification after the restart', 20_000);
    } finally {
      controller.abort();
      await running;
    }
  });

  it('without notify-send: says so once, with how to install it, and prints each notification instead', async () => {
    const controller = new AbortController();
    const out: string[] = [];
    const err: string[] = [];
    const empty = path.join(world.root, 'empty-bin');
    fs.mkdirSync(empty, { recursive: true });
    const io: CommandIO = { env: { ...env, PATH: empty }, stdout: (l) => out.push(l), stderr: (l) => err.push(l) };
    const running = notify(io, { signal: controller.signal, retryMs: 100 });
    try {
      await until(() => server.connections > 0, 'notify to dial');
      const s = await manager.create('fake', world.project('quiet-desk'), 'nodesk');
      await until(() => s.state === 'idle', 'idle', 20_000);
      s.prompt('one');
      await until(() => out.length === 1, 'the first notification', 20_000);
      await until(() => s.state === 'idle', 'idle');
      s.prompt('two');
      await until(() => out.length === 2, 'the second notification', 20_000);
      assert.deepEqual(out, ['quiet-desk (nodesk): You said: one (3 bytes)', 'quiet-desk (nodesk): You said: two (3 bytes)']);
      assert.deepEqual(err, ['anvillm-notify: notify-send not found (Debian: apt-get install libnotify-bin); printing notifications here']);
    } finally {
      controller.abort();
      await running;
    }
  });
});
