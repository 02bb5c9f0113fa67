/** The server against the 9P2000 manual, message by message, over a raw wire. */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';

import { createRamfs, type MemDir } from '../../examples/ramfs.js';
import { DMDIR, NOFID, NOTAG, OEXEC, OREAD, ORCLOSE, ORDWR, OTRUNC, OWRITE } from '../../src/ninep/constants.js';
import { SnapshotFile, StaticDir, StreamFile } from '../../src/ninep/files.js';
import type { RMessage, Stat } from '../../src/ninep/messages.js';
import { unchangedStat } from '../../src/ninep/messages.js';
import { decodeStats } from '../../src/ninep/parser.js';
import { encode } from '../../src/ninep/serializer.js';
import { newQidPath, type FileNode } from '../../src/ninep/tree.js';
import { serve, Wire, type Served } from '../helpers.js';

function expectType<T extends RMessage['type']>(m: RMessage, type: T): Extract<RMessage, { type: T }> {
  assert.equal(m.type, type, `expected ${type}, got ${JSON.stringify(m, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
  return m as Extract<RMessage, { type: T }>;
}

function expectError(m: RMessage, pattern: RegExp): void {
  expectType(m, 'Rerror');
  assert.match((m as { ename: string }).ename, pattern);
}

const pushers = new Set<(s: string) => void>();
const delivered: string[] = [];
/** What the file `slow` was written, each write kept only after a wait (as a file that writes to disk would). */
const slowWrites: string[] = [];

function buildTree(): { root: StaticDir; ram: MemDir } {
  const ram = createRamfs();
  ram.name = 'ram';
  const events = new StreamFile({
    name: 'events',
    subscribe: (push) => {
      pushers.add(push);
      return () => pushers.delete(push);
    },
  });
  const ctl = new SnapshotFile({ name: 'ctl', commit: (d) => void delivered.push(d.toString()) });
  const list = new SnapshotFile({ name: 'list', read: () => 'a\nb\n', length: () => 4 });
  const slow: FileNode = {
    isDir: false,
    qidPath: newQidPath(),
    stat: () => ({ name: 'slow', mode: 0o222 }),
    open: () => ({
      write: async (data: Buffer) => {
        await delay(30);
        slowWrites.push(data.toString());
      },
    }),
  };
  return { root: new StaticDir('/', [ram, events, ctl, list, slow]), ram };
}

describe('9P2000 server', () => {
  let srv: Served;
  let ram: MemDir;
  let w: Wire;

  before(async () => {
    const tree = buildTree();
    ram = tree.ram;
    srv = await serve(tree.root, { maxFids: 64, maxPending: 16 });
  });
  after(() => srv.close());

  async function attached(): Promise<Wire> {
    const wire = await Wire.connect(srv.socketPath);
    expectType(await wire.rpc({ type: 'Tversion', tag: NOTAG, msize: 8192, version: '9P2000' }), 'Rversion');
    expectType(await wire.rpc({ type: 'Tattach', tag: 0, fid: 0, afid: NOFID, uname: 'u', aname: '' }), 'Rattach');
    return wire;
  }

  beforeEach(async () => {
    w?.close();
    w = await attached();
  });

  describe('version', () => {
    it('answers msize = min(client, ours) and 9P2000 for 9P2000 and its dialects, "unknown" otherwise', async () => {
      const v = await Wire.connect(srv.socketPath);
      const r = expectType(await v.rpc({ type: 'Tversion', tag: NOTAG, msize: 1 << 30, version: '9P2000' }), 'Rversion');
      assert.equal(r.msize, 65536 + 24);
      for (const dialect of ['9P2000.L', '9P2000.u']) {
        const d = expectType(await v.rpc({ type: 'Tversion', tag: NOTAG, msize: 8192, version: dialect }), 'Rversion');
        assert.deepEqual([d.msize, d.version], [8192, '9P2000']);
      }
      const u = expectType(await v.rpc({ type: 'Tversion', tag: NOTAG, msize: 8192, version: '9P1999' }), 'Rversion');
      assert.equal(u.version, 'unknown');
      expectError(await v.rpc({ type: 'Tattach', tag: 0, fid: 0, afid: NOFID, uname: 'u', aname: '' }), /Tversion first/);
      v.close();
    });

    it('a new Tversion drops every fid of the connection', async () => {
      expectType(await w.rpc({ type: 'Twalk', tag: 0, fid: 0, newfid: 1, wnames: ['list'] }), 'Rwalk');
      expectType(await w.rpc({ type: 'Tversion', tag: NOTAG, msize: 8192, version: '9P2000' }), 'Rversion');
      expectError(await w.rpc({ type: 'Tstat', tag: 0, fid: 1 }), /unknown fid 1/);
      expectError(await w.rpc({ type: 'Tstat', tag: 0, fid: 0 }), /unknown fid 0/);
    });

    it('answers anything before Tversion with an error', async () => {
      const v = await Wire.connect(srv.socketPath);
      expectError(await v.rpc({ type: 'Tstat', tag: 3, fid: 0 }), /Tversion first/);
      v.close();
    });
  });

  describe('auth and attach', () => {
    it('refuses Tauth without allocating afid 0, so `9p` can attach fid 0 next', async () => {
      const v = await Wire.connect(srv.socketPath);
      await v.rpc({ type: 'Tversion', tag: NOTAG, msize: 8192, version: '9P2000' });
      expectError(await v.rpc({ type: 'Tauth', tag: 0, afid: 0, uname: 'root', aname: '' }), /authentication not required/);
      const a = expectType(await v.rpc({ type: 'Tattach', tag: 0, fid: 0, afid: NOFID, uname: 'root', aname: '' }), 'Rattach');
      assert.equal(a.qid.type, 0x80);
      expectError(await v.rpc({ type: 'Tattach', tag: 0, fid: 0, afid: NOFID, uname: 'root', aname: '' }), /fid 0 is in use/);
      v.close();
    });
  });

  describe('walk', () => {
    it('clones with no names, also onto itself', async () => {
      assert.deepEqual(expectType(await w.rpc({ type: 'Twalk', tag: 0, fid: 0, newfid: 1, wnames: [] }), 'Rwalk').qids, []);
      expectType(await w.rpc({ type: 'Twalk', tag: 0, fid: 1, newfid: 1, wnames: ['ram'] }), 'Rwalk');
      assert.equal(expectType(await w.rpc({ type: 'Tstat', tag: 0, fid: 1 }), 'Rstat').stat.name, 'ram');
    });

    it('a first name that fails is an Rerror; a later failure is a short Rwalk and no new fid', async () => {
      expectError(await w.rpc({ type: 'Twalk', tag: 0, fid: 0, newfid: 1, wnames: ['nope'] }), /'nope' file does not exist/);
      const r = expectType(await w.rpc({ type: 'Twalk', tag: 0, fid: 0, newfid: 1, wnames: ['ram', 'nope', 'x'] }), 'Rwalk');
      assert.equal(r.qids.length, 1);
      expectError(await w.rpc({ type: 'Tstat', tag: 0, fid: 1 }), /unknown fid 1/);
    });

    it('walks .. to the parent, and .. of the root is the root', async () => {
      ram.create('sub', DMDIR | 0o755);
      const r = expectType(await w.rpc({ type: 'Twalk', tag: 0, fid: 0, newfid: 1, wnames: ['ram', 'sub', '..', '..', '..', 'list'] }), 'Rwalk');
      assert.equal(r.qids.length, 6);
      assert.equal(r.qids[1]!.path, r.qids[3]!.path === r.qids[4]!.path ? r.qids[1]!.path : -1n);
      assert.equal(expectType(await w.rpc({ type: 'Tstat', tag: 0, fid: 1 }), 'Rstat').stat.name, 'list');
    });

    it('refuses to walk from a file, from an open fid, or onto a fid in use', async () => {
      expectType(await w.rpc({ type: 'Twalk', tag: 0, fid: 0, newfid: 1, wnames: ['list'] }), 'Rwalk');
      expectError(await w.rpc({ type: 'Twalk', tag: 0, fid: 1, newfid: 2, wnames: ['x'] }), /not a directory/);
      expectError(await w.rpc({ type: 'Twalk', tag: 0, fid: 0, newfid: 1, wnames: [] }), /fid 1 is in use/);
      expectType(await w.rpc({ type: 'Topen', tag: 0, fid: 1, mode: OREAD }), 'Ropen');
      expectError(await w.rpc({ type: 'Twalk', tag: 0, fid: 1, newfid: 2, wnames: [] }), /open fid/);
    });
  });

  describe('open', () => {
    async function walkTo(...names: string[]): Promise<void> {
      expectType(await w.rpc({ type: 'Twalk', tag: 0, fid: 0, newfid: 1, wnames: names }), 'Rwalk');
    }

    it('checks the mode against the permissions', async () => {
      await walkTo('list'); // 0444
      expectError(await w.rpc({ type: 'Topen', tag: 0, fid: 1, mode: OWRITE }), /permission denied: 'list' is not writable/);
      expectError(await w.rpc({ type: 'Topen', tag: 0, fid: 1, mode: OREAD | OTRUNC }), /permission denied/);
      expectError(await w.rpc({ type: 'Topen', tag: 0, fid: 1, mode: OEXEC }), /permission denied/);
      expectType(await w.rpc({ type: 'Topen', tag: 0, fid: 1, mode: OREAD }), 'Ropen');
      expectError(await w.rpc({ type: 'Topen', tag: 0, fid: 1, mode: OREAD }), /already open/);
      expectType(await w.rpc({ type: 'Twalk', tag: 0, fid: 0, newfid: 2, wnames: ['ctl'] }), 'Rwalk'); // 0222
      expectError(await w.rpc({ type: 'Topen', tag: 0, fid: 2, mode: OREAD }), /permission denied: 'ctl' is not readable/);
    });

    it('never opens a directory for writing', async () => {
      await walkTo('ram');
      for (const mode of [OWRITE, ORDWR, OREAD | OTRUNC]) {
        expectError(await w.rpc({ type: 'Topen', tag: 0, fid: 1, mode }), /is a directory/);
      }
    });

    it('OTRUNC truncates', async () => {
      const f = ram.create('trunc', 0o666);
      (f as { open(m: number): { write?: (d: Buffer, o: number) => unknown } }).open(OWRITE).write!(Buffer.from('0123456789'), 0);
      await walkTo('ram', 'trunc');
      expectType(await w.rpc({ type: 'Topen', tag: 0, fid: 1, mode: OWRITE | OTRUNC }), 'Ropen');
      expectType(await w.rpc({ type: 'Tclunk', tag: 0, fid: 1 }), 'Rclunk');
      await walkTo('ram', 'trunc');
      assert.equal(expectType(await w.rpc({ type: 'Tstat', tag: 0, fid: 1 }), 'Rstat').stat.length, 0n);
    });

    it('ORCLOSE with Tremove removes once and answers Rremove; a dropped connection removes too', async () => {
      ram.create('temp2', 0o666);
      await walkTo('ram', 'temp2');
      expectType(await w.rpc({ type: 'Topen', tag: 0, fid: 1, mode: OREAD | ORCLOSE }), 'Ropen');
      expectType(await w.rpc({ type: 'Tremove', tag: 0, fid: 1 }), 'Rremove');
      assert.equal(ram.lookup('temp2'), undefined);
      ram.create('temp3', 0o666);
      await walkTo('ram', 'temp3');
      expectType(await w.rpc({ type: 'Topen', tag: 0, fid: 1, mode: OREAD | ORCLOSE }), 'Ropen');
      w.close();
      await w.closed;
      for (let i = 0; i < 100 && ram.lookup('temp3'); i++) await new Promise((r) => setTimeout(r, 5));
      assert.equal(ram.lookup('temp3'), undefined, 'version(5): the fids of a lost connection are clunked');
    });

    it('ORCLOSE removes the file at clunk', async () => {
      ram.create('temp', 0o666);
      await walkTo('ram', 'temp');
      expectType(await w.rpc({ type: 'Topen', tag: 0, fid: 1, mode: OREAD | ORCLOSE }), 'Ropen');
      expectType(await w.rpc({ type: 'Tclunk', tag: 0, fid: 1 }), 'Rclunk');
      assert.equal(ram.lookup('temp'), undefined);
    });
  });

  describe('read and write', () => {
    it('directory reads return whole entries only, and agree with stat', async () => {
      expectType(await w.rpc({ type: 'Twalk', tag: 0, fid: 0, newfid: 1, wnames: [] }), 'Rwalk');
      expectType(await w.rpc({ type: 'Topen', tag: 0, fid: 1, mode: OREAD }), 'Ropen');
      const first = expectType(await w.rpc({ type: 'Tread', tag: 0, fid: 1, offset: 0n, count: 100 }), 'Rread');
      const one = decodeStats(Buffer.from(first.data)) as Stat[];
      assert.equal(one.length, 1, 'only one whole entry fits in 100 bytes');
      const entries: Stat[] = [...one];
      let offset = BigInt(first.data.length);
      for (;;) {
        const r = expectType(await w.rpc({ type: 'Tread', tag: 0, fid: 1, offset, count: 8000 }), 'Rread');
        if (r.data.length === 0) break;
        entries.push(...(decodeStats(Buffer.from(r.data)) as Stat[]));
        offset += BigInt(r.data.length);
      }
      assert.deepEqual(entries.map((e) => e.name), ['ram', 'events', 'ctl', 'list', 'slow']);
      expectError(await w.rpc({ type: 'Tread', tag: 0, fid: 1, offset: 5n, count: 8000 }), /illegal offset/);
      expectError(await w.rpc({ type: 'Tread', tag: 0, fid: 1, offset: 0n, count: 10 }), /too small/);
      for (const e of entries) {
        expectType(await w.rpc({ type: 'Twalk', tag: 0, fid: 0, newfid: 2, wnames: [e.name] }), 'Rwalk');
        const st = expectType(await w.rpc({ type: 'Tstat', tag: 0, fid: 2 }), 'Rstat').stat;
        assert.deepEqual(st, e, `stat of ${e.name} agrees with the directory read`);
        expectType(await w.rpc({ type: 'Tclunk', tag: 0, fid: 2 }), 'Rclunk');
      }
      assert.equal(entries.find((e) => e.name === 'list')!.length, 4n);
      assert.equal(entries.find((e) => e.name === 'ctl')!.mode, 0o222);
    });

    it('Rwrite counts every byte consumed, and a ctl-style file ignores the offset', async () => {
      expectType(await w.rpc({ type: 'Twalk', tag: 0, fid: 0, newfid: 1, wnames: ['ctl'] }), 'Rwalk');
      expectType(await w.rpc({ type: 'Topen', tag: 0, fid: 1, mode: OWRITE }), 'Ropen');
      const n = expectType(await w.rpc({ type: 'Twrite', tag: 0, fid: 1, offset: 0n, data: Buffer.from('new sh /tmp\n') }), 'Rwrite');
      assert.equal(n.count, 12);
      expectType(await w.rpc({ type: 'Twrite', tag: 0, fid: 1, offset: 6n, data: Buffer.from('more') }), 'Rwrite');
      expectError(await w.rpc({ type: 'Tread', tag: 0, fid: 1, offset: 0n, count: 10 }), /not open for reading/);
      const before = delivered.length;
      expectType(await w.rpc({ type: 'Tclunk', tag: 0, fid: 1 }), 'Rclunk');
      assert.deepEqual(delivered.slice(before), ['new sh /tmp\nmore']);
    });
  });

  // The server reads each connection into one buffer of its own, read into again at the next read.
  describe('bytes kept across reads', () => {
    it('a write whose file takes its time keeps its bytes while later requests arrive', async () => {
      for (const fid of [1, 2]) {
        expectType(await w.rpc({ type: 'Twalk', tag: 0, fid: 0, newfid: fid, wnames: ['slow'] }), 'Rwalk');
        expectType(await w.rpc({ type: 'Topen', tag: 0, fid, mode: OWRITE }), 'Ropen');
      }
      slowWrites.length = 0;
      w.send({ type: 'Twrite', tag: 1, fid: 1, offset: 0n, data: Buffer.from('first write, still waiting') });
      await delay(10); // its own read: the next request lands where its bytes were
      w.send({ type: 'Twrite', tag: 2, fid: 2, offset: 0n, data: Buffer.from('second write overwriting') });
      await delay(10);
      w.send({ type: 'Tstat', tag: 3, fid: 0 });
      const tags = [await w.next(), await w.next(), await w.next()].map((r) => r.tag).sort();
      assert.deepEqual(tags, [1, 2, 3]);
      assert.deepEqual(slowWrites, ['first write, still waiting', 'second write overwriting']);
    });

    it('a message cut between two reads is whole when its rest comes', async () => {
      const walk = encode({ type: 'Twalk', tag: 5, fid: 0, newfid: 1, wnames: ['ram'] });
      const stat = encode({ type: 'Tstat', tag: 6, fid: 0 });
      w.socket.write(Buffer.concat([stat, walk.subarray(0, 9)]));
      expectType(await w.next(), 'Rstat');
      await delay(10);
      // Longer than what is left of the walk: these bytes fill the buffer past where its start was.
      w.socket.write(Buffer.concat([walk.subarray(9), encode({ type: 'Tstat', tag: 7, fid: 0 })]));
      const r = expectType(await w.next(), 'Rwalk');
      assert.equal(r.tag, 5);
      assert.equal(r.qids.length, 1);
      expectType(await w.next(), 'Rstat');
      expectType(await w.rpc({ type: 'Tstat', tag: 0, fid: 1 }), 'Rstat');
    });
  });

  describe('remove', () => {
    it('clunks the fid even when the remove fails', async () => {
      expectType(await w.rpc({ type: 'Twalk', tag: 0, fid: 0, newfid: 1, wnames: ['list'] }), 'Rwalk');
      expectError(await w.rpc({ type: 'Tremove', tag: 0, fid: 1 }), /permission denied/);
      expectError(await w.rpc({ type: 'Tclunk', tag: 0, fid: 1 }), /unknown fid 1/);
    });

    it('removes a file and refuses a non-empty directory', async () => {
      const d = ram.create('full', DMDIR | 0o755) as MemDir;
      d.create('inner', 0o644);
      expectType(await w.rpc({ type: 'Twalk', tag: 0, fid: 0, newfid: 1, wnames: ['ram', 'full'] }), 'Rwalk');
      expectError(await w.rpc({ type: 'Tremove', tag: 0, fid: 1 }), /not empty/);
      expectType(await w.rpc({ type: 'Twalk', tag: 0, fid: 0, newfid: 1, wnames: ['ram', 'full', 'inner'] }), 'Rwalk');
      expectType(await w.rpc({ type: 'Tremove', tag: 0, fid: 1 }), 'Rremove');
      assert.equal(d.lookup('inner'), undefined);
    });
  });

  describe('wstat as 9pfuse sends it on Linux', () => {
    async function fileWith(text: string): Promise<void> {
      const f = ram.lookup('w') ?? ram.create('w', 0o644);
      (f as { wstat(c: { length: number }): void }).wstat({ length: 0 });
      (f as { open(m: number): { write?: (d: Buffer, o: number) => unknown } }).open(OWRITE).write!(Buffer.from(text), 0);
      expectType(await w.rpc({ type: 'Twalk', tag: 0, fid: 0, newfid: 1, wnames: ['ram', 'w'] }), 'Rwalk');
    }
    const statOf = async (fid: number) => expectType(await w.rpc({ type: 'Tstat', tag: 0, fid }), 'Rstat').stat;

    it('echo x > f: OWRITE without OTRUNC, then length 0 on the unopened fid', async () => {
      await fileWith('old contents');
      expectType(await w.rpc({ type: 'Twalk', tag: 0, fid: 1, newfid: 2, wnames: [] }), 'Rwalk');
      expectType(await w.rpc({ type: 'Topen', tag: 0, fid: 2, mode: OWRITE }), 'Ropen');
      expectType(await w.rpc({ type: 'Twstat', tag: 0, fid: 1, stat: { ...unchangedStat(), length: 0n } }), 'Rwstat');
      expectType(await w.rpc({ type: 'Twrite', tag: 0, fid: 2, offset: 0n, data: Buffer.from('x\n') }), 'Rwrite');
      assert.equal((await statOf(1)).length, 2n);
    });

    it('truncate -s N: length N on the open fid; touch: only atime and mtime', async () => {
      await fileWith('0123456789');
      expectType(await w.rpc({ type: 'Topen', tag: 0, fid: 1, mode: OWRITE }), 'Ropen');
      expectType(await w.rpc({ type: 'Twstat', tag: 0, fid: 1, stat: { ...unchangedStat(), length: 3n } }), 'Rwstat');
      assert.equal((await statOf(1)).length, 3n);
      expectType(await w.rpc({ type: 'Twstat', tag: 0, fid: 1, stat: { ...unchangedStat(), atime: 1000, mtime: 2000 } }), 'Rwstat');
      const st = await statOf(1);
      assert.deepEqual([st.atime, st.mtime, st.length], [1000, 2000, 3n]);
    });

    it('a synthetic file accepts truncation to 0 and touch; read-only ones and other changes are refused', async () => {
      expectType(await w.rpc({ type: 'Twalk', tag: 0, fid: 0, newfid: 1, wnames: ['ctl'] }), 'Rwalk');
      expectType(await w.rpc({ type: 'Twstat', tag: 0, fid: 1, stat: { ...unchangedStat(), length: 0n } }), 'Rwstat');
      expectType(await w.rpc({ type: 'Twalk', tag: 0, fid: 0, newfid: 2, wnames: ['list'] }), 'Rwalk');
      expectError(await w.rpc({ type: 'Twstat', tag: 0, fid: 2, stat: { ...unchangedStat(), length: 0n } }), /permission denied/);
      expectError(await w.rpc({ type: 'Twstat', tag: 0, fid: 2, stat: { ...unchangedStat(), mode: DMDIR | 0o777 } }), /cannot change/);
      expectError(await w.rpc({ type: 'Twstat', tag: 0, fid: 2, stat: { ...unchangedStat(), uid: 'someone' } }), /cannot change its owner/);
      expectType(await w.rpc({ type: 'Twstat', tag: 0, fid: 2, stat: unchangedStat() }), 'Rwstat');
    });

    it('renames within the directory, refusing a name in use', async () => {
      await fileWith('r');
      expectType(await w.rpc({ type: 'Twstat', tag: 0, fid: 1, stat: { ...unchangedStat(), name: 'renamed' } }), 'Rwstat');
      assert.ok(ram.lookup('renamed'));
      assert.equal(ram.lookup('w'), undefined);
      ram.create('taken', 0o644);
      expectError(await w.rpc({ type: 'Twstat', tag: 0, fid: 1, stat: { ...unchangedStat(), name: 'taken' } }), /already exists/);
    });
  });

  describe('flush, concurrency and connection loss', () => {
    async function openEvents(fid: number): Promise<void> {
      expectType(await w.rpc({ type: 'Twalk', tag: 0, fid: 0, newfid: fid, wnames: ['events'] }), 'Rwalk');
      expectType(await w.rpc({ type: 'Topen', tag: 0, fid, mode: OREAD }), 'Ropen');
    }

    it('a blocked read holds up nothing; replies come out of order, matched by tag', async () => {
      await openEvents(1);
      w.send({ type: 'Tread', tag: 7, fid: 1, offset: 0n, count: 100 });
      w.send({ type: 'Twalk', tag: 8, fid: 0, newfid: 2, wnames: ['list'] });
      w.send({ type: 'Tstat', tag: 9, fid: 0 });
      const replies = [await w.next(), await w.next()];
      assert.deepEqual(replies.map((r) => r.tag).sort(), [8, 9], "both answered while the read waits");
      for (const push of pushers) push('hello\n');
      const r = expectType(await w.next(), 'Rread');
      assert.deepEqual([r.tag, Buffer.from(r.data).toString()], [7, 'hello\n']);
    });

    it('flush cancels a pending read: it is never answered, and Rflush follows', async () => {
      await openEvents(1);
      w.send({ type: 'Tread', tag: 7, fid: 1, offset: 0n, count: 100 });
      w.send({ type: 'Tflush', tag: 8, oldtag: 7 });
      const r = await w.next();
      assert.deepEqual([r.type, r.tag], ['Rflush', 8]);
      assert.ok(await w.quiet(100), 'the flushed read is never answered');
      for (const push of pushers) push('after\n');
      const again = expectType(await w.rpc({ type: 'Tread', tag: 7, fid: 1, offset: 0n, count: 100 }), 'Rread');
      assert.equal(Buffer.from(again.data).toString(), 'after\n', 'the flushed read took nothing');
    });

    it('a flush of an unknown or finished tag is answered with Rflush, never Rerror', async () => {
      const r = await w.rpc({ type: 'Tflush', tag: 3, oldtag: 1234 });
      assert.deepEqual([r.type, r.tag], ['Rflush', 3]);
    });

    it('clunking a fid answers its pending read with an error', async () => {
      await openEvents(1);
      w.send({ type: 'Tread', tag: 7, fid: 1, offset: 0n, count: 100 });
      w.send({ type: 'Tclunk', tag: 8, fid: 1 });
      const replies = [await w.next(), await w.next()].sort((a, b) => a.tag - b.tag);
      expectError(replies[0]!, /interrupted/);
      expectType(replies[1]!, 'Rclunk');
    });

    it('EOF with requests pending drops them and frees every fid', async () => {
      const before = pushers.size;
      await openEvents(1);
      w.send({ type: 'Tread', tag: 7, fid: 1, offset: 0n, count: 100 });
      assert.equal(pushers.size, before + 1);
      w.close();
      await w.closed;
      for (let i = 0; i < 100 && pushers.size > before; i++) await new Promise((r) => setTimeout(r, 5));
      assert.equal(pushers.size, before, 'the open events file was closed');
    });

    it('a malformed message closes that connection only', async () => {
      const other = await attached();
      const bad = encode({ type: 'Tstat', tag: 1, fid: 0 });
      bad.writeUInt32LE(bad.length + 3, 0); // size disagrees with the content that follows
      w.send(Buffer.concat([bad, Buffer.alloc(3, 0xff), encode({ type: 'Tclunk', tag: 2, fid: 0 })]));
      assert.equal(await w.nextRaw(), null, 'the server closed the malformed connection');
      expectType(await other.rpc({ type: 'Tstat', tag: 0, fid: 0 }), 'Rstat');
      other.close();
    });

    it('enforces per-connection limits on fids and pending requests', async () => {
      for (let fid = 1; fid < 64; fid++) expectType(await w.rpc({ type: 'Twalk', tag: 0, fid: 0, newfid: fid, wnames: [] }), 'Rwalk');
      expectError(await w.rpc({ type: 'Twalk', tag: 0, fid: 0, newfid: 64, wnames: [] }), /too many fids/);
      for (let fid = 1; fid < 64; fid++) expectType(await w.rpc({ type: 'Tclunk', tag: 0, fid }), 'Rclunk');
      await openEvents(1);
      for (let tag = 0; tag < 16; tag++) w.send({ type: 'Tread', tag, fid: 1, offset: 0n, count: 10 });
      expectError(await w.rpc({ type: 'Tstat', tag: 100, fid: 0 }), /too many outstanding requests/);
      w.send({ type: 'Tread', tag: 3, fid: 1, offset: 0n, count: 10 });
      expectError(await w.next(), /tag 3 is in use/);
      // A full connection can still be freed: a flush is never refused.
      const r = await w.rpc({ type: 'Tflush', tag: 200, oldtag: 5 });
      assert.deepEqual([r.type, r.tag], ['Rflush', 200]);
      expectType(await w.rpc({ type: 'Tstat', tag: 100, fid: 0 }), 'Rstat'); // the flushed read's room
    });
  });
});
