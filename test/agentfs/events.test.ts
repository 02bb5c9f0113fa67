/**
 * agent/events under flush, and the reads the seed's own anvillm-notify shell script makes: it
 * polls `9p read agent/list` (first field of each line: the id), then `agent/<id>/state`, and on
 * running → idle `alias`, `cwd` and `summary`, each through `$(…)` (trailing newlines dropped).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Client, NinepError } from '../../src/ninep/client.js';
import { NOFID, NOTAG, OREAD } from '../../src/ninep/constants.js';
import type { SessionManager } from '../../src/session/manager.js';
import { fakeEnv, serveAgent, type FakeEnv, type ServedAgent } from '../fixtures/fake-env.js';
import { needs, type Served, until, Wire } from '../helpers.js';

describe('agent/events and the seed notifier’s reads', { skip: needs('tmux', 'bwrap') }, () => {
  let world: FakeEnv;
  let manager: SessionManager;
  let srv: Served;
  let served: ServedAgent;

  before(async () => {
    world = fakeEnv();
    served = await serveAgent(world);
    ({ manager, srv } = served);
  });

  after(async () => {
    await served.close();
    world.remove();
  });

  it('a flushed events read is never answered and takes no event: the next read gets it', async () => {
    const w = await Wire.connect(srv.socketPath);
    try {
      assert.equal((await w.rpc({ type: 'Tversion', tag: NOTAG, msize: 8192, version: '9P2000' })).type, 'Rversion');
      assert.equal((await w.rpc({ type: 'Tattach', tag: 0, fid: 0, afid: NOFID, uname: 'u', aname: '' })).type, 'Rattach');
      assert.equal((await w.rpc({ type: 'Twalk', tag: 0, fid: 0, newfid: 1, wnames: ['events'] })).type, 'Rwalk');
      assert.equal((await w.rpc({ type: 'Topen', tag: 0, fid: 1, mode: OREAD })).type, 'Ropen');
      w.send({ type: 'Tread', tag: 1, fid: 1, offset: 0n, count: 8000 });
      assert.ok(await w.quiet(300), 'with no event, the read blocks');
      const flushed = await w.rpc({ type: 'Tflush', tag: 2, oldtag: 1 });
      assert.deepEqual([flushed.type, flushed.tag], ['Rflush', 2]);
      assert.ok(await w.quiet(100), 'the flushed read is never answered');

      // The connection and the open go on; the event the flushed read would have had is kept.
      const s = await manager.create('fake', world.project('flushed'));
      const r = await w.rpc({ type: 'Tread', tag: 1, fid: 1, offset: 0n, count: 8000 });
      assert.ok(r.type === 'Rread', r.type);
      assert.match(Buffer.from(r.data).toString(), new RegExp(`^${s.id} new fake \\S+flushed\n`));
      await s.kill();
    } finally {
      w.close();
    }
  });

  it('list, state, alias, cwd answer what the seed notifier expects; it sees running → idle', { timeout: 60_000 }, async () => {
    // `9p read agent/<path>`: a connection of its own, read to end of file.
    const nineRead = async (p: string): Promise<string> => {
      const c = await Client.dial(`unix!${srv.socketPath}`);
      try {
        return (await c.readFile(p)).toString();
      } finally {
        c.close();
      }
    };
    const dollar = (text: string) => text.replace(/\n+$/, ''); // sh's $(…)
    const dir = world.project('seed-notify');
    const named = await manager.create('fake', dir, 'seedy');
    const plain = await manager.create('fake', dir);
    await until(() => named.state === 'idle' && plain.state === 'idle', 'both idle', 20_000);

    const notified: [string, string][] = [];
    const prev = new Map<string, string>();
    const poll = async () => {
      // awk '{print $1}' of each line
      const ids = (await nineRead('list')).split('\n').map((l) => l.split(/\s+/)[0]!).filter(Boolean);
      for (const id of ids) {
        const state = dollar(await nineRead(`${id}/state`));
        if (prev.get(id) === 'running' && state === 'idle') {
          const name = dollar(await nineRead(`${id}/alias`)) || id;
          const heading = path.basename(dollar(await nineRead(`${id}/cwd`)));
          // There is no summary file: `9p read` fails, and the script says "completed".
          const summary = await nineRead(`${id}/summary`).then(dollar, (e: unknown) => {
            assert.ok(e instanceof NinepError && /does not exist/.test(e.message), String(e));
            return '';
          });
          notified.push([`${heading} (${name})`, summary || 'completed']);
        }
        prev.set(id, state);
      }
    };

    await poll();
    assert.deepEqual([prev.get(named.id), prev.get(plain.id)], ['idle', 'idle'], 'state reads "idle" once $(…) drops its newline');
    named.prompt('sleep 1.5');
    plain.prompt('sleep 1.5');
    const end = Date.now() + 30_000;
    while (notified.length < 2 && Date.now() < end) {
      await poll();
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.deepEqual(notified.sort(), [
      [`seed-notify (${plain.id})`, 'completed'],
      ['seed-notify (seedy)', 'completed'],
    ]);
  });
});
