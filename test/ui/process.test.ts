/**
 * Assist as the programs a user runs: the `Assist` binary starts a daemon when none answers and
 * exits with acme, leaving the daemon; `anvillm serve --assist` (npm start) opens /AnviLLM/ when
 * acme is running.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Client } from '../../src/ninep/client.js';
import { FakeAcme } from '../fixtures/fake-acme.js';
import { fakeEnv, type FakeEnv } from '../fixtures/fake-env.js';
import { needs, repoRoot, until } from '../helpers.js';

const bin = (name: string) => path.join(repoRoot, 'dist', 'src', 'cli', name);

describe('Assist as a process', { skip: needs('tmux', 'bwrap') }, () => {
  let world: FakeEnv;
  let env: NodeJS.ProcessEnv;
  let acme: FakeAcme;
  let stopAcme: () => Promise<void>;

  before(async () => {
    world = fakeEnv();
    const ns = path.join(world.root, 'ns');
    fs.mkdirSync(ns, { mode: 0o700 });
    env = { ...world.env, NAMESPACE: ns };
    acme = new FakeAcme({ user: env['USER']! });
    stopAcme = await acme.listen(path.join(ns, 'acme'));
  });
  after(async () => {
    await stopAcme();
    try {
      execFileSync(process.execPath, [bin('anvillm.js'), 'daemon', 'stop'], { env, stdio: 'ignore' });
    } catch {
      // not running
    }
    world.remove();
  });

  it('starts the daemon when none answers, and exits when acme does while the daemon runs on', async () => {
    const child = spawn(process.execPath, [bin('assist.js')], { env, cwd: world.root, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await until(() => acme.byName('/AnviLLM/') !== undefined, `/AnviLLM/ (stderr: ${stderr})`, 20_000);
    const main = acme.byName('/AnviLLM/')!;
    await until(() => acme.reading(main.id), 'Assist reading its events');
    acme.close();
    assert.equal(await exited, 0, stderr);
    const c = await Client.dial('agent', { env });
    c.close();
  });

  it('anvillm serve --assist opens /AnviLLM/ when acme runs', async () => {
    execFileSync(process.execPath, [bin('anvillm.js'), 'daemon', 'stop'], { env, stdio: 'ignore' });
    const before = acme.names().length;
    const child = spawn(process.execPath, [bin('anvillm.js'), 'serve', '--assist'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      await until(() => acme.names().filter((n) => n === '/AnviLLM/').length === 1 && acme.names().length > before, `/AnviLLM/ (stderr: ${stderr})`, 20_000);
      assert.match(stderr, /Assist started/);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});
