/** Many clients at once on agent/: 20 sessions created, prompted, read and killed concurrently. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Client } from '../../src/ninep/client.js';
import { NOFID, NOTAG, OREAD, ORDWR } from '../../src/ninep/constants.js';
import type { SessionManager } from '../../src/session/manager.js';
import { fakeEnv, serveAgent, type FakeEnv, type ServedAgent } from '../fixtures/fake-env.js';
import { needs, type Served, Wire } from '../helpers.js';

describe('agent/ under 20 concurrent clients', { skip: needs('tmux', 'bwrap') }, () => {
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

  it('a client that vanishes in the middle of a read wedges nothing', async () => {
    const gone = await Wire.connect(srv.socketPath);
    gone.send({ type: 'Tversion', tag: NOTAG, msize: 8192, version: '9P2000' });
    gone.send({ type: 'Tattach', tag: 0, fid: 0, afid: NOFID, uname: 'u', aname: '' });
    gone.send({ type: 'Twalk', tag: 1, fid: 0, newfid: 1, wnames: ['events'] });
    gone.send({ type: 'Topen', tag: 2, fid: 1, mode: OREAD });
    gone.send({ type: 'Tread', tag: 3, fid: 1, offset: 0n, count: 8000 });
    for (let i = 0; i < 4; i++) await gone.next();
    gone.close(); // a read is pending
    const c = await Client.dial(`unix!${srv.socketPath}`);
    try {
      const events = await c.open('events', OREAD);
      const s = await manager.create('fake', world.project('after-vanish'));
      assert.match((await events.read()).toString(), new RegExp(`^${s.id} new fake `));
      assert.match((await c.readFile('list')).toString(), new RegExp(`^${s.id}\t`));
      await events.close();
      await s.kill();
    } finally {
      c.close();
    }
  });

  it('each client gets its own session and its own answer; nothing is lost or mixed up', { timeout: 120_000 }, async () => {
    const one = async (n: number): Promise<string> => {
      const c = await Client.dial(`unix!${srv.socketPath}`);
      try {
        const events = await c.open('events', OREAD);
        const ctl = await c.open('ctl', ORDWR);
        await ctl.write(`new fake ${world.project(`load-${n}`)} client${n}\n`);
        const id = (await ctl.read()).toString().trim();
        await ctl.close();
        let seen = '';
        const waitFor = async (text: string) => {
          while (!seen.includes(text)) seen += (await events.read()).toString();
        };
        await waitFor(`${id} state starting idle`);
        await c.writeFile(`client${n}/in`, `question ${n}`);
        await waitFor(`${id} out`);
        const out = (await c.readFile(`${id}/out`)).toString();
        await c.writeFile(`${id}/ctl`, 'kill');
        await events.close();
        return `${id} ${out}`;
      } finally {
        c.close();
      }
    };
    const results = await Promise.all(Array.from({ length: 20 }, (_, n) => one(n)));
    results.forEach((r, n) => assert.match(r, new RegExp(`^[0-9a-f]{8} You said: question ${n} \\(${`question ${n}`.length} bytes\\)$`)));
    assert.equal(new Set(results.map((r) => r.split(' ')[0])).size, 20, '20 distinct sessions');
    const ids = new Set(results.map((r) => r.split(' ')[0]));
    assert.deepEqual(manager.list().filter((i) => ids.has(i.id)), [], 'each was killed, and has left the list');
  });
});
