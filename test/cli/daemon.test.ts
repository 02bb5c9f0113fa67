/** `anvillm daemon start|stop|status`: the daemon as a real background process. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { main } from '../../src/cli/anvillm.js';
import type { CommandIO } from '../../src/cli/io.js';
import { fakeEnv } from '../fixtures/fake-env.js';
import { needs } from '../helpers.js';

describe('anvillm daemon', { skip: needs('tmux', 'bwrap') }, () => {
  const world = fakeEnv();
  const env: NodeJS.ProcessEnv = { ...world.env, NAMESPACE: path.join(world.root, 'ns') };
  after(async () => {
    await run('daemon', 'stop', '--kill-sessions').catch(() => {});
    world.remove();
  });

  async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const io: CommandIO = { env, stdout: (l) => out.push(l), stderr: (l) => err.push(l) };
    return { code: await main(args, io), out: out.join('\n'), err: err.join('\n') };
  }

  it('start returns once it serves, is idempotent; status tells; stop --kill-sessions ends it and its agents', async () => {
    assert.equal((await run('daemon', 'status')).code, 1);
    const started = await run('daemon', 'start');
    assert.equal(started.code, 0, started.err);
    assert.match(started.out, /^started \(pid \d+\), serving .*\/ns\/agent; log: .*daemon\.log$/);
    const again = await run('daemon', 'start');
    assert.match(again.out, /^already running \(pid \d+\)/);
    const created = await run('new', 'fake', world.project('bg'), '--alias', 'bg');
    assert.equal(created.code, 0, created.err);
    const status = await run('daemon', 'status');
    assert.equal(status.code, 0);
    assert.match(status.out, /^pid \d+\nsocket .*\/ns\/agent\nsessions 1\nuptime \d+ s/);
    const stopped = await run('daemon', 'stop', '--kill-sessions');
    assert.deepEqual([stopped.code, stopped.out], [0, 'stopped; its sessions were killed']);
    assert.equal((await run('daemon', 'status')).code, 1);
    assert.match(fs.readFileSync(path.join(env['XDG_STATE_HOME']!, 'anvillm', 'daemon.log'), 'utf8'), /serving .*agent/);
    assert.equal((await run('daemon', 'bogus')).code, 2);
  });
});
