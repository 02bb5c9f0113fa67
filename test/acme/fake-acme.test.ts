/**
 * The fake acme answers the recorded traffic of the real one: both recordings replayed, with the
 * user's clicks, sweeps, chords and keys played where the recorder noted them.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { FakeAcme } from '../fixtures/fake-acme.js';
import { tempDir } from '../helpers.js';
import { replayAcme } from './replay-acme.js';

// The recordings' machine: /tmp/acme-fx/demo.txt held this on disk, /tmp existed.
const disk: Record<string, string> = { '/tmp/acme-fx/demo.txt': 'on-disk content of demo.txt\n' };
const exists = (f: string) => f in disk || f === '/tmp' || f === '/tmp/acme-fx';

async function withFake(run: (acme: FakeAcme, socket: string) => Promise<void>): Promise<void> {
  const tmp = tempDir();
  const acme = new FakeAcme({ user: 'root', readFile: (f) => disk[f], exists });
  const socket = path.join(tmp.dir, 'acme');
  const stop = await acme.listen(socket);
  try {
    await run(acme, socket);
  } finally {
    await stop();
    tmp.remove();
  }
}

describe('fake acme against the recordings of the real acme', () => {
  let dir: { dir: string; remove(): void };
  before(() => (dir = tempDir()));
  after(() => dir.remove());

  it('plain-9p: 9p commands, a program with kept fids, two readers of one event file, the user', () =>
    withFake(async (acme, socket) => {
      const r = await replayAcme('plain-9p.jsonl', acme, socket);
      assert.ok(r.compared > 350, `compared ${r.compared} replies`);
      for (const w of r.wires.values()) w.close();
      // What acme did with the written-back events: a look, a refused Get, a Get, a Del.
      assert.deepEqual(
        acme.actions.map((a) => `${a.kind} ${a.text}`),
        ['look beta', 'execute Get', 'execute Get', 'execute Del'],
      );
      assert.deepEqual(acme.names(), ['+Errors']);
    }));

  it('assist-session: the original Assist, clicked, typed, swept and chorded', () =>
    withFake(async (acme, socket) => {
      const r = await replayAcme('assist-session.jsonl', acme, socket);
      assert.ok(r.compared > 100, `compared ${r.compared} replies`);
      for (const w of r.wires.values()) w.close();
      assert.deepEqual(acme.names(), []);
    }));

  it('refuses an attach in another name than acme\'s user', () =>
    withFake(async (_acme, socket) => {
      const { Client } = await import('../../src/ninep/client.js');
      await assert.rejects(Client.dial(`unix!${socket}`, { uname: 'mallory' }), /permission denied/);
    }));
});
