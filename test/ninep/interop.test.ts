/**
 * Interop with plan9port: its `9p` and `9pfuse` clients' recorded traffic against the reference
 * ramfs, replayed against our ramfs example; plumb's blocking-read traffic against a small
 * plumber-like tree. Legitimate differences, which the replay allows: qid paths and versions,
 * times, ramfs's uninitialised type/dev, the order of directory entries, the wording of errors
 * (they must map to the same errno under 9pfuse), and the root's name ("." in ramfs, "/" per
 * stat(5) in ours).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { createRamfs } from '../../examples/ramfs.js';
import { Client } from '../../src/ninep/client.js';
import { SnapshotFile, StaticDir, StreamFile } from '../../src/ninep/files.js';
import { serve } from '../helpers.js';
import { replay } from './replay.js';

/** A fresh plan9port ramfs is not empty: it holds `file` (mode 0666, length 0), owned by root. */
function freshRamfs() {
  const root = createRamfs();
  root.create('file', 0o666);
  return root;
}

// The recordings were made as root: serve as root so uid/gid/muid and directory sizes compare.
const asRecorded = { uid: 'root', msize: 8192 + 24 };

async function replaySequence(files: string[]): Promise<void> {
  const srv = await serve(freshRamfs(), asRecorded);
  try {
    for (const file of files) {
      const result = await replay(file, srv.socketPath, { rootName: '.' });
      assert.ok(result.compared > 0);
      assert.equal(result.unanswered, 0, `${file}: every request was answered`);
      for (const w of result.wires.values()) w.close();
    }
  } finally {
    await srv.close();
  }
}

describe('plan9port 9p and 9pfuse against our ramfs (recorded traffic)', () => {
  it('A1: 9p ls, rm, create, write, 9pfuse mkdir, ls -l of a populated tree', () =>
    replaySequence(['A1a-ls-empty.jsonl', 'A1b-populate.jsonl', 'A1c-ls-populated.jsonl']));

  it('A2: short and 10000-byte writes and reads, truncation, stat, rdwr', () =>
    replaySequence(['A2a-write-read.jsonl', 'A2b-stat.jsonl', 'A2c-rdwr.jsonl']));

  it('A3: a 9pfuse session: ls -la, cat, echo >, >>, truncate, touch, rm, mkdir, rmdir (pipelined)', () =>
    replaySequence(['A3-9pfuse-ramfs.jsonl']));

  it('A3s (stock ramfs corrupts modes on wstat) is not replayed: A3 is the same script on the fixed build', {
    skip: 'the reference server answers wrongly there; A3 covers the same client traffic',
  });
});

describe('a blocking read and a client killed with it pending (plumb, recorded)', () => {
  it('A4: the read is answered when data arrives; EOF with a read pending frees everything', async () => {
    const readers = new Set<(s: Uint8Array) => void>();
    const edit = new StreamFile({
      name: 'edit',
      subscribe: (push) => {
        readers.add(push);
        return () => readers.delete(push);
      },
    });
    // plumber hands each message written to `send` to the readers of its port, unchanged.
    const send = new SnapshotFile({
      name: 'send',
      perm: 0o222,
      check: (data) => {
        for (const push of readers) push(Buffer.from(data));
      },
    });
    const srv = await serve(new StaticDir('/', [send, edit]), asRecorded);
    try {
      const result = await replay('A4-sigint-blocking-read-plumber.jsonl', srv.socketPath);
      assert.equal(result.unanswered, 1, 'the last Tread is still pending when 9p is killed');
      assert.equal(readers.size, 1);
      // SIGINT: the client's socket just closes, with no Tflush and no Tclunk.
      result.wires.get(1)!.close();
      result.wires.get(2)!.close();
      await Promise.all([...result.wires.values()].map((w) => w.closed));
      for (let i = 0; i < 100 && (srv.server.connections > 0 || readers.size > 0); i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(srv.server.connections, 0, 'both connections are gone');
      assert.equal(readers.size, 0, 'the open of edit was closed: its fid was freed');
      const c = await Client.dial(`unix!${srv.socketPath}`);
      assert.deepEqual((await c.readdir('/')).map((s) => s.name).sort(), ['edit', 'send']);
      c.close();
    } finally {
      await srv.close();
    }
  });
});
