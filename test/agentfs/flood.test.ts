/**
 * A clumsy or hostile client of agent/ hurts no one else: a ctl command whose quote never closes
 * is capped and dropped (not kept and rescanned at every write), and another client's reads go on
 * meanwhile; a session's small value files are capped too.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { MAX_COMMAND } from '../../src/agentfs/command-file.js';
import { Client } from '../../src/ninep/client.js';
import { ORDWR, OWRITE } from '../../src/ninep/constants.js';
import { fakeEnv, serveAgent, type FakeEnv, type ServedAgent } from '../fixtures/fake-env.js';
import { needs } from '../helpers.js';

/** plan9port's ERRMAX is 128: a longer Rerror is cut by its clients. */
const ERRMAX = 127;

describe('agent/ under a flood', { skip: needs('tmux', 'bwrap') }, () => {
  let world: FakeEnv;
  let served: ServedAgent;

  before(async () => {
    world = fakeEnv();
    served = await serveAgent(world);
  });

  after(async () => {
    await served.close();
    world.remove();
  });

  it('a 4 MiB unclosed quote on ctl fails at the cap with a short error, and list reads go on meanwhile', async (t) => {
    const flooder = await Client.dial(`unix!${served.srv.socketPath}`);
    const reader = await Client.dial(`unix!${served.srv.socketPath}`);
    try {
      const ctl = await flooder.open('ctl', ORDWR);
      const chunk = Buffer.alloc(ctl.iounit, 'x');
      const total = 4 << 20;
      let flooding = true;
      const readsDuringFlood: number[] = [];
      const reads = (async () => {
        while (flooding) {
          const t0 = performance.now();
          await reader.readFile('list');
          if (flooding) readsDuringFlood.push(performance.now() - t0);
        }
      })();
      const errors: string[] = [];
      let sentBeforeFirstError = -1;
      let sent = 0;
      await ctl.pwrite("new fake '", 0);
      sent += 10;
      while (sent < total) {
        try {
          await ctl.pwrite(chunk, 0);
        } catch (e) {
          if (sentBeforeFirstError < 0) sentBeforeFirstError = sent;
          errors.push((e as Error).message);
        }
        sent += chunk.length;
        await new Promise((resolve) => setImmediate(resolve)); // a client that does nothing else but write
      }
      flooding = false;
      await reads;
      // The write that took the unfinished command past the cap failed, and every one after it:
      // what came before was dropped, and the rest of the flood is not taken for commands.
      assert.ok(sentBeforeFirstError >= 0, 'the flood was refused');
      assert.ok(sentBeforeFirstError <= MAX_COMMAND + chunk.length, `refused only after ${sentBeforeFirstError} bytes`);
      assert.equal(errors.length, Math.ceil((total - sentBeforeFirstError) / chunk.length));
      assert.equal(new Set(errors).size, 1);
      assert.match(errors[0]!, /^ctl: command too long/);
      assert.ok(Buffer.byteLength(errors[0]!) <= ERRMAX, `${Buffer.byteLength(errors[0]!)} bytes: ${errors[0]}`);
      assert.ok(readsDuringFlood.length > 0, 'list was read while the flood was being sent');
      const sorted = [...readsDuringFlood].sort((a, b) => a - b);
      t.diagnostic(`${readsDuringFlood.length} reads of list during the flood: median ${sorted[sorted.length >> 1]!.toFixed(1)} ms, max ${sorted[sorted.length - 1]!.toFixed(1)} ms`);
      await ctl.close();
      // A new open of ctl starts afresh.
      const again = await flooder.open('ctl', ORDWR);
      await assert.rejects(again.write('new nosuchbackend /tmp\n'), /no backend "nosuchbackend"/);
      await again.close();
    } finally {
      flooder.close();
      reader.close();
    }
  });

  it('a session value file is capped: the write past it fails, and nothing is committed at clunk', async () => {
    const c = await Client.dial(`unix!${served.srv.socketPath}`);
    try {
      const s = await served.manager.create('fake', world.project('flood-alias'));
      const alias = await c.open(`${s.id}/alias`, OWRITE);
      await alias.write('ok-');
      await assert.rejects(alias.write(Buffer.alloc(4096, 'a')), (e: Error) => /^alias: write too long/.test(e.message) && Buffer.byteLength(e.message) <= ERRMAX);
      await assert.rejects(alias.write('more'), /alias: write too long/);
      await alias.close();
      assert.equal(s.alias, null);
      await s.kill();
    } finally {
      c.close();
    }
  });
});
