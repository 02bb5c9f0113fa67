/**
 * The daemon's log of client-caused errors stays bounded: a unit test of the limiter, and a real
 * `anvillm serve` hammered with bad connections and opens of an exited session's screen.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';

import { boundedLog } from '../../src/cli/bounded-log.js';
import { Client } from '../../src/ninep/client.js';
import { ORDWR } from '../../src/ninep/constants.js';
import { fakeEnv } from '../fixtures/fake-env.js';
import { needs, repoRoot, until } from '../helpers.js';

describe('boundedLog', () => {
  it('logs each kind of line up to its burst per window, then one line with the count left out', async () => {
    const out: string[] = [];
    const log = boundedLog((l) => out.push(l), { burst: 3, windowMs: 200 });
    for (let i = 0; i < 1000; i++) log(`9p: closing connection: bad message ${i}`);
    log('agent/ctl: no sandbox for claude');
    assert.deepEqual(out, [
      '9p: closing connection: bad message 0',
      '9p: closing connection: bad message 1',
      '9p: closing connection: bad message 2',
      'agent/ctl: no sandbox for claude',
    ]);
    await until(() => out.length === 5, 'the summary at the end of the window');
    assert.equal(out[4], '9p: 997 more like this in 200 ms, not logged');
    log('9p: closing connection: again');
    assert.equal(out[5], '9p: closing connection: again', 'a new window logs again');
  });
});

describe('anvillm serve under a flood of client errors', { skip: needs('tmux', 'bwrap') }, () => {
  it('logs a bounded number of lines for 300 bad connections and 300 opens of an exited session\'s screen', async () => {
    const world = fakeEnv();
    const env = { ...world.env, NAMESPACE: path.join(world.root, 'ns') };
    const daemon = spawn(process.execPath, [path.join(repoRoot, 'dist', 'src', 'cli', 'anvillm.js'), 'serve'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    daemon.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    try {
      await until(() => log.includes('serving'), 'the daemon');
      const socket = path.join(env.NAMESPACE, 'agent');
      for (let i = 0; i < 300; i++) {
        await new Promise<void>((resolve) => {
          const s = net.connect(socket, () => s.end(Buffer.from('\x05\x00\x00\x00\xff junk')));
          s.on('close', () => resolve());
          s.on('error', () => resolve());
        });
      }
      const c = await Client.dial(`unix!${socket}`);
      const ctl = await c.open('ctl', ORDWR);
      await ctl.write(`new fake ${world.project('p')}\n`);
      const id = (await ctl.read()).toString().trim();
      await ctl.close();
      // It crashes: exited, still listed (a killed one would have left agent/).
      const stateIs = async (want: string) => {
        while ((await c.readFile(`${id}/state`)).toString().trim() !== want) await new Promise((r) => setTimeout(r, 100));
      };
      await stateIs('idle');
      await c.writeFile(`${id}/in`, '/crash');
      await stateIs('exited');
      for (let i = 0; i < 300; i++) await c.readFile(`${id}/screen`).catch(() => {});
      c.close();
      await new Promise((r) => setTimeout(r, 200));
      const lines = log.split('\n').filter((l) => l !== '');
      const closing = lines.filter((l) => l.startsWith('anvillm: 9p: closing connection'));
      const screen = lines.filter((l) => l.startsWith(`anvillm: agent/${id}/screen: `));
      assert.ok(closing.length > 0 && closing.length <= 20, `${closing.length} lines for bad connections`);
      assert.ok(screen.length > 0 && screen.length <= 20, `${screen.length} lines for the screen`);
      assert.ok(lines.length < 80, `${lines.length} lines in all:\n${log}`);
    } finally {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon.once('exit', r));
      world.remove();
    }
  });
});
