/** The anvillm client subcommands against a daemon's agent/ (in-process, over a real socket). */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { main } from '../../src/cli/anvillm.js';
import type { CommandIO } from '../../src/cli/io.js';
import type { SessionManager } from '../../src/session/manager.js';
import { fakeEnv, postAgent, type FakeEnv, type PostedAgent } from '../fixtures/fake-env.js';
import { needs, repoRoot } from '../helpers.js';

describe('anvillm client commands', { skip: needs('tmux', 'bwrap') }, () => {
  let world: FakeEnv;
  let env: NodeJS.ProcessEnv;
  let manager: SessionManager;
  let daemon: PostedAgent;

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
  });
  after(async () => {
    await daemon.close();
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
    assert.equal(saved.out, path.join(dir, 'notes.txt'), 'save answers the file it wrote');
    assert.equal((await run('kill', 'renamed')).code, 0);
    assert.equal(manager.get(id), undefined, 'a killed session leaves the list');
    assert.deepEqual(JSON.parse((await run('ls', '--json')).out), []);
  });

  it('as a program: send reads the prompt from stdin, read prints a file, wait gives up with the state it saw', { timeout: 60_000 }, async () => {
    const cli = path.join(repoRoot, 'dist', 'src', 'cli', 'anvillm.js');
    const program = (args: string[], input = '') =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const child = execFile(process.execPath, [cli, ...args], { env }, (e, out, err) =>
          resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, out, err }),
        );
        child.stdin!.end(input);
      });
    const created = await run('new', 'fake', world.project('stdin project'), '--alias', 'piped');
    assert.equal(created.code, 0, created.err);
    assert.equal((await run('wait', 'piped', '--timeout', '20')).code, 0);
    const sent = await program(['send', 'piped', '--wait'], 'from stdin\nsecond line\n'); // the last newline is trimmed
    assert.deepEqual(sent, { code: 0, out: 'You said: from stdin (22 bytes)\n', err: '' });
    const transcript = await program(['read', 'piped', 'transcript']);
    assert.match(transcript.out, /^USER: from stdin\nsecond line\n\nASSISTANT: You said: from stdin/);
    const missing = await program(['read', 'piped', 'summary']);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /^anvillm read: session [0-9a-f]{8} has no file "summary"; it has: in out transcript/);
    const late = await program(['wait', 'piped', '--state', 'running', '--timeout', '0.5']);
    assert.equal(late.code, 1);
    assert.match(late.err, /^anvillm wait: session [0-9a-f]{8} is still idle after 0\.5 s \(waited for running\)/);
    assert.equal((await run('kill', 'piped')).code, 0);
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
