/** The anvillm client subcommands against a daemon's agent/ (in-process, over a real socket). */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { agentTree } from '../../src/agentfs/agentfs.js';
import { main } from '../../src/cli/anvillm.js';
import type { CommandIO } from '../../src/cli/io.js';
import { post, type Posted } from '../../src/ninep/namespace.js';
import { Server } from '../../src/ninep/server.js';
import type { SessionManager } from '../../src/session/manager.js';
import { fakeEnv, type FakeEnv } from '../fixtures/fake-env.js';
import { needs } from '../helpers.js';

describe('anvillm client commands', { skip: needs('tmux', 'bwrap') }, () => {
  let world: FakeEnv;
  let env: NodeJS.ProcessEnv;
  let manager: SessionManager;
  let posted: Posted;

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
    manager = world.manager();
    posted = await post('agent', new Server(agentTree(manager)), env);
  });
  after(async () => {
    await posted.close();
    await manager.killAll().catch(() => {});
    manager.close();
    world.remove();
  });

  it('new, wait, send --wait, ls, read, alias, ctl, kill', async () => {
    const dir = world.project('cli project');
    const created = await run('new', 'fake', dir, '--alias', 'cli');
    assert.equal(created.code, 0, created.err);
    const id = created.out;
    assert.match(id, /^[0-9a-f]{8}$/);
    assert.equal((await run('wait', 'cli', '--state', 'idle', '--timeout', '20')).code, 0);
    const sent = await run('send', 'cli', 'hello', 'there', '--wait');
    assert.deepEqual([sent.code, sent.out], [0, 'You said: hello there (11 bytes)']);
    const ls = await run('ls', '--json');
    assert.deepEqual(JSON.parse(ls.out), [{ id, backend: 'fake', state: 'idle', pid: manager.get(id)!.pid, alias: 'cli', cwd: dir }]);
    assert.equal((await run('alias', id, 'renamed')).code, 0);
    assert.equal(manager.get('renamed')?.id, id);
    const saved = await run('ctl', 'renamed', 'save', 'notes.txt');
    assert.equal(saved.code, 0, saved.err);
    assert.equal((await run('kill', 'renamed')).code, 0);
    assert.equal(manager.get(id)!.state, 'exited');
  });

  it('errors say what to do, with exit 1; bad usage exits 2', async () => {
    const missing = await run('read', 'nosuch');
    assert.equal(missing.code, 1);
    assert.match(missing.err, /no session "nosuch": `anvillm ls` lists the sessions/);
    assert.equal((await run('new', 'fake')).code, 2);
    assert.equal((await run('wait', 'x', '--timeout', 'soon')).code, 2);
    const help = await run('send', '--help');
    assert.equal(help.code, 0);
    assert.match(help.out, /send <id\|alias> \[text…\] \[--wait\]/);
    const noDaemon = await (async () => {
      const saved = env;
      env = { ...env, NAMESPACE: path.join(world.root, 'elsewhere') };
      try {
        return await run('ls');
      } finally {
        env = saved;
      }
    })();
    assert.equal(noDaemon.code, 1);
    assert.match(noDaemon.err, /no daemon is serving .*elsewhere\/agent: start one with `anvillm daemon start`/);
  });
});
