/**
 * Requests a client sends back to back, without waiting for the answers, in one write: a request
 * that changes a fid is seen by the ones after it that name the fid (as plan9port's lib9p, which
 * answers in arrival order), while other requests still run concurrently.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { createRamfs } from '../../examples/ramfs.js';
import { NOFID, NOTAG, OREAD, OWRITE } from '../../src/ninep/constants.js';
import { ComputedDir, SnapshotFile, StaticDir } from '../../src/ninep/files.js';
import type { RMessage, TMessage } from '../../src/ninep/messages.js';
import { encode } from '../../src/ninep/serializer.js';
import type { FileNode, Node } from '../../src/ninep/tree.js';
import { newQidPath } from '../../src/ninep/tree.js';
import { serve, Wire, type Served } from '../helpers.js';

const later = <T>(ms: number, v: T) => new Promise<T>((resolve) => setTimeout(() => resolve(v), ms));

const events: string[] = [];

/** A file whose writes take a while and whose close is noted: a close must not overtake a write. */
function slowFile(name: string): FileNode {
  return {
    isDir: false,
    qidPath: newQidPath(),
    stat: () => ({ name, mode: 0o666 }),
    open: () => ({
      write: async (data) => {
        await later(30, null);
        events.push(`wrote ${data.toString()}`);
      },
      close: () => void events.push('closed'),
    }),
  };
}

function tree(): StaticDir {
  const hello = new SnapshotFile({ name: 'hello', read: () => 'hello\n' });
  // A directory whose lookups answer later, as one backed by a database or a process would.
  const slow = new ComputedDir({ name: 'slow', lookup: (name) => later<Node | undefined>(30, name === 'hello' ? hello : undefined), children: () => [hello] });
  const ram = createRamfs();
  ram.name = 'ram';
  return new StaticDir('/', [slow, ram, slowFile('sink')]);
}

/** Sends `ms` in ONE write and returns the next `n` replies in the order they came. */
async function pipelined(w: Wire, ms: TMessage[], n = ms.length): Promise<RMessage[]> {
  w.send(Buffer.concat(ms.map((m) => encode(m))));
  const replies: RMessage[] = [];
  for (let i = 0; i < n; i++) replies.push(await w.next());
  return replies;
}

const brief = (m: RMessage) => `${m.tag} ${m.type}${m.type === 'Rerror' ? ` ${m.ename}` : m.type === 'Rread' ? ` ${Buffer.from(m.data).toString()}` : ''}`;

describe('pipelined requests', () => {
  let srv: Served;
  let w: Wire;

  before(async () => {
    srv = await serve(tree());
    w = await Wire.connect(srv.socketPath);
    const setup = await pipelined(w, [
      { type: 'Tversion', tag: NOTAG, msize: 8192, version: '9P2000' },
      { type: 'Tattach', tag: 0, fid: 0, afid: NOFID, uname: 'u', aname: '' },
    ]);
    assert.deepEqual(setup.map((m) => m.type), ['Rversion', 'Rattach']);
  });
  after(async () => {
    w.close();
    await srv.close();
  });

  it('walk, open, read and clunk of a new fid in one write, through a directory that answers later', async () => {
    const replies = await pipelined(w, [
      { type: 'Twalk', tag: 1, fid: 0, newfid: 1, wnames: ['slow', 'hello'] },
      { type: 'Topen', tag: 2, fid: 1, mode: OREAD },
      { type: 'Tread', tag: 3, fid: 1, offset: 0n, count: 100 },
      { type: 'Tclunk', tag: 4, fid: 1 },
    ]);
    assert.deepEqual(replies.map(brief), ['1 Rwalk', '2 Ropen', '3 Rread hello\n', '4 Rclunk']);
  });

  it('the same in an in-memory tree, and a failed walk leaves its newfid unknown to the requests after it', async () => {
    const replies = await pipelined(w, [
      { type: 'Twalk', tag: 1, fid: 0, newfid: 1, wnames: ['ram'] },
      { type: 'Topen', tag: 2, fid: 1, mode: OREAD },
      { type: 'Tclunk', tag: 3, fid: 1 },
      { type: 'Twalk', tag: 4, fid: 0, newfid: 2, wnames: ['slow', 'nothing'] },
      { type: 'Topen', tag: 5, fid: 2, mode: OREAD },
    ]);
    const byTag = new Map(replies.map((r) => [r.tag, brief(r)]));
    assert.deepEqual([1, 2, 3].map((t) => byTag.get(t)), ['1 Rwalk', '2 Ropen', '3 Rclunk']);
    // A walk that stops short makes no newfid: the open after it finds none.
    assert.equal(byTag.get(4), '4 Rwalk');
    assert.match(byTag.get(5)!, /^5 Rerror unknown fid 2 /);
  });

  it('a clunk sent right after a write closes the file after the write, not under it', async () => {
    events.length = 0;
    const replies = await pipelined(w, [
      { type: 'Twalk', tag: 1, fid: 0, newfid: 3, wnames: ['sink'] },
      { type: 'Topen', tag: 2, fid: 3, mode: OWRITE },
      { type: 'Twrite', tag: 3, fid: 3, offset: 0n, data: Buffer.from('x') },
      { type: 'Tclunk', tag: 4, fid: 3 },
    ]);
    assert.deepEqual(replies.map(brief), ['1 Rwalk', '2 Ropen', '3 Rwrite', '4 Rclunk']);
    assert.deepEqual(events, ['wrote x', 'closed']);
  });

  it('a flushed open waiting for its walk never runs; the walk is answered, then the flush', async () => {
    const replies = await pipelined(
      w,
      [
        { type: 'Twalk', tag: 1, fid: 0, newfid: 4, wnames: ['slow', 'hello'] },
        { type: 'Topen', tag: 2, fid: 4, mode: OREAD },
        { type: 'Tflush', tag: 3, oldtag: 2 },
      ],
      2,
    );
    assert.deepEqual(replies.map(brief), ['1 Rwalk', '3 Rflush']);
    // The fid is walked and not open: it opens now.
    const [open] = await pipelined(w, [{ type: 'Topen', tag: 5, fid: 4, mode: OREAD }]);
    assert.equal(brief(open!), '5 Ropen');
    await pipelined(w, [{ type: 'Tclunk', tag: 6, fid: 4 }]);
  });

  it('a walk from a fid clunked right after it still makes its newfid', async () => {
    const replies = await pipelined(w, [
      { type: 'Twalk', tag: 1, fid: 0, newfid: 8, wnames: [] },
      { type: 'Twalk', tag: 2, fid: 8, newfid: 9, wnames: ['slow', 'hello'] },
      { type: 'Tclunk', tag: 3, fid: 8 },
      { type: 'Topen', tag: 4, fid: 9, mode: OREAD },
      { type: 'Tclunk', tag: 5, fid: 9 },
    ]);
    const byTag = new Map(replies.map((r) => [r.tag, brief(r)]));
    assert.deepEqual([1, 2, 3, 4, 5].map((t) => byTag.get(t)), ['1 Rwalk', '2 Rwalk', '3 Rclunk', '4 Ropen', '5 Rclunk']);
  });

  it('requests on other fids do not wait behind a slow walk', async () => {
    const replies = await pipelined(w, [
      { type: 'Twalk', tag: 1, fid: 0, newfid: 5, wnames: ['slow', 'hello'] },
      { type: 'Twalk', tag: 2, fid: 0, newfid: 6, wnames: ['ram'] },
      { type: 'Tclunk', tag: 3, fid: 6 },
      { type: 'Tclunk', tag: 4, fid: 5 },
    ]);
    assert.deepEqual(replies.map(brief), ['2 Rwalk', '3 Rclunk', '1 Rwalk', '4 Rclunk']);
  });
});
