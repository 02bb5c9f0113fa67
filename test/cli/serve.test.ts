/** `anvillm serve` as a real process: one per user, SIGTERM leaves the agents running, a SIGKILLed daemon's sessions are re-adopted. */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { takeLock } from '../../src/cli/serve.js';
import { Client } from '../../src/ninep/client.js';
import { OREAD, ORDWR } from '../../src/ninep/constants.js';
import { fakeEnv, type FakeEnv } from '../fixtures/fake-env.js';
import { needs, repoRoot, until } from '../helpers.js';

const cli = path.join(repoRoot, 'dist', 'src', 'cli', 'anvillm.js');

describe('the daemon lock', () => {
  it('takes over a lock left by a dead daemon, and refuses one a live daemon holds', () => {
    const world = fakeEnv();
    try {
      const env: NodeJS.ProcessEnv = { ...world.env, NAMESPACE: path.join(world.root, 'ns') };
      const file = path.join(env['XDG_STATE_HOME']!, 'anvillm', 'daemon.lock');
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, '999999999\n'); // no such process
      const lock = takeLock(env);
      assert.equal(fs.readFileSync(file, 'utf8'), `${process.pid}\n`);
      fs.writeFileSync(file, `${process.ppid}\n`); // a live process
      assert.throws(() => takeLock(env), new RegExp(`already running \\(pid ${process.ppid}\\), serving ${env['NAMESPACE']}/agent`));
      fs.writeFileSync(file, `${process.pid}\n`);
      lock.release();
      assert.equal(fs.existsSync(file), false);
    } finally {
      world.remove();
    }
  });
});

describe('anvillm serve', { skip: needs('tmux', 'bwrap') }, () => {
  let world: FakeEnv;
  let env: NodeJS.ProcessEnv;

  before(() => {
    world = fakeEnv();
    env = { ...world.env, NAMESPACE: path.join(world.root, 'ns') };
  });
  after(() => world.remove());

  function start(): { child: ChildProcess; log: () => string; exited: Promise<number | null> } {
    const child = spawn(process.execPath, [cli, 'serve'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    return { child, log: () => log, exited };
  }

  async function stateOf(c: Client, id: string): Promise<string> {
    return (await c.readFile(`${id}/state`)).toString().trim();
  }

  it('serves agent/, refuses a second daemon, survives SIGKILL with its sessions, and stops on SIGTERM leaving them running', async () => {
    const first = start();
    await until(() => /serving .*agent/.test(first.log()), 'the daemon to serve', 20_000);
    assert.equal(fs.statSync(path.join(env['NAMESPACE']!, 'agent')).mode & 0o777, 0o600);

    let c = await Client.dial('agent', { env });
    const ctl = await c.open('ctl', ORDWR);
    await ctl.write(`new fake ${world.project('served')} kept\n`);
    const id = (await ctl.read()).toString().trim();
    await ctl.close();
    const deadline = Date.now() + 20_000;
    while ((await stateOf(c, id)) !== 'idle') {
      assert.ok(Date.now() < deadline, 'the session becomes idle');
      await new Promise((r) => setTimeout(r, 100));
    }

    const second = start();
    assert.equal(await second.exited, 1);
    assert.match(second.log(), new RegExp(`a daemon is already running \\(pid ${first.child.pid}\\), serving ${env['NAMESPACE']}/agent`));

    first.child.kill('SIGKILL');
    await first.exited;
    c.close();
    const again = start();
    await until(() => /serving .*\(1 sessions\)/.test(again.log()), 'the restarted daemon to serve', 20_000);
    c = await Client.dial('agent', { env });
    assert.match((await c.readFile('list')).toString(), new RegExp(`^${id}\tfake\t\\w+\t\\d+\tkept\t`));
    const events = await c.open('events', OREAD);
    await c.writeFile('kept/in', 'are you there?\n');
    let seen = '';
    while (!seen.includes(`${id} out`)) seen += (await events.read()).toString();
    assert.equal((await c.readFile(`${id}/out`)).toString(), 'You said: are you there? (14 bytes)');
    await events.close();
    c.close();

    again.child.kill('SIGTERM');
    assert.equal(await again.exited, 0);
    assert.equal(fs.existsSync(path.join(env['NAMESPACE']!, 'agent')), false, 'the socket is removed');
    const windows = execFileSync('tmux', ['-S', env['ANVILLM_TMUX_SOCKET']!, 'list-windows', '-a', '-F', '#{window_name}']).toString();
    assert.match(windows, new RegExp(`^${id}$`, 'm'), 'the agent keeps running in tmux');
  });
});
