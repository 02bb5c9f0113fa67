import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { createRamfs } from '../../examples/ramfs.js';
import { Client, NinepError } from '../../src/ninep/client.js';
import { DMDIR, OREAD, ORDWR, OWRITE } from '../../src/ninep/constants.js';
import { SnapshotFile, StaticDir, StreamFile } from '../../src/ninep/files.js';
import type { TMessage } from '../../src/ninep/messages.js';
import { decode, MessageFramer } from '../../src/ninep/parser.js';
import { encode } from '../../src/ninep/serializer.js';
import { serve, tempDir, type Served } from '../helpers.js';

describe('client and server over a unix socket', () => {
  let srv: Served;
  let client: Client;
  const pushers = new Set<(s: string) => void>();
  const committed: string[] = [];

  before(async () => {
    const root = createRamfs();
    root.name = 'ram';
    const events = new StreamFile({
      name: 'events',
      subscribe: (push) => {
        pushers.add(push);
        return () => pushers.delete(push);
      },
    });
    let value = 'initial';
    const value_ = new SnapshotFile({
      name: 'value',
      read: () => value + '\n',
      length: () => value.length + 1,
      check: (data) => {
        if (data.includes('bad')) throw new Error('permission denied: bad values are refused');
      },
      commit: (data) => {
        value = data.toString().trim();
        committed.push(value);
      },
    });
    const synthetic = new StaticDir('syn', [events, value_]);
    root.create('placeholder', 0o666);
    srv = await serve(new StaticDir('/', [synthetic, root]));
    client = await Client.dial(`unix!${srv.socketPath}`);
  });

  after(async () => {
    client.close();
    await srv.close();
  });

  it('creates, writes, reads, lists, stats and removes files', async () => {
    await client.create('/ram/create', DMDIR | 0o755, OREAD).then((f) => f.close());
    const f = await client.create('/ram/create/note', 0o644, OWRITE);
    await f.write('hello, world\n');
    await f.close();
    assert.equal((await client.readFile('/ram/create/note')).toString(), 'hello, world\n');
    const entries = await client.readdir('/ram/create');
    assert.deepEqual(
      entries.map((e) => [e.name, e.mode, e.length]),
      [['note', 0o644, 13n]],
    );
    const st = await client.stat('/ram/create/note');
    assert.equal(st.length, 13n);
    await client.remove('/ram/create/note');
    await assert.rejects(client.stat('/ram/create/note'), /does not exist/);
  });

  it('reads a file larger than one message in iounit pieces', async () => {
    const big = Buffer.alloc(1 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    await client.create('/ram/create/big', 0o644, OWRITE).then((f) => f.close());
    await client.writeFile('/ram/create/big', big);
    const back = await client.readFile('/ram/create/big');
    assert.equal(back.length, big.length);
    assert.ok(back.equals(big));
  });

  it('keeps the data of each small read while later replies arrive', async () => {
    const text = Array.from({ length: 20 }, (_, i) => `line ${String(i).padStart(2, '0')} of the file\n`).join('');
    await client.create('/ram/create/lines', 0o644, OWRITE).then((f) => f.close());
    await client.writeFile('/ram/create/lines', text);
    const f = await client.open('/ram/create/lines', OREAD);
    const parts: Buffer[] = [];
    for (let part = await f.read(50); part.length > 0; part = await f.read(50)) parts.push(part);
    await f.close();
    assert.equal(Buffer.concat(parts).toString(), text);
  });

  it('holds computed content per open and delivers writes at clunk', async () => {
    const reader = await client.open('/syn/value', OREAD);
    const writer = await client.open('/syn/value', OWRITE);
    await writer.write('second');
    await writer.write(' part');
    assert.deepEqual(committed, [], 'nothing is delivered before clunk');
    await writer.close();
    assert.deepEqual(committed, ['second part']);
    // The reader opened before the write still sees its own snapshot.
    assert.equal((await reader.readAll()).toString(), 'initial\n');
    await reader.close();
    assert.equal((await client.readFile('/syn/value')).toString(), 'second part\n');
    assert.equal((await client.stat('/syn/value')).length, 12n);
  });

  it('does not leak a fid when a long walk fails past its first 16 names', async () => {
    const deep = Array.from({ length: 16 }, (_, i) => `d${i}`);
    let dir = '/ram';
    for (const name of deep) {
      dir += `/${name}`;
      await client.create(dir, DMDIR | 0o755, OREAD).then((f) => f.close());
    }
    const small = await Client.dial(`unix!${srv.socketPath}`);
    try {
      for (let i = 0; i < 5000; i++) {
        await assert.rejects(small.stat(`${dir}/missing`), /does not exist/);

      }
      // Every failed walk gave its fid back: the client reuses the same few fid numbers.
      const { fid } = await small.walk('/');
      assert.ok(fid < 5, `fid ${fid}: fids leaked`);
    } finally {
      small.close();
    }
  });

  it('refuses a bad write at write time, not at clunk', async () => {
    const w = await client.open('/syn/value', ORDWR);
    await assert.rejects(w.write('bad thing'), (e: Error) => e instanceof NinepError && /permission denied/.test(e.message));
    await w.close();
    assert.equal(committed.at(-1), 'second part');
  });

  it('a flushed blocking read is never answered and the connection keeps working', async () => {
    const ev = await client.open('/syn/events', OREAD);
    const controller = new AbortController();
    const pending = ev.read(100, { signal: controller.signal });
    await new Promise((r) => setTimeout(r, 50));
    // Other requests on the same connection are not held up by the blocked read.
    assert.equal((await client.readFile('/syn/value')).toString(), 'second part\n');
    controller.abort();
    await assert.rejects(pending, /abort/i);
    for (const push of pushers) push('one\n');
    assert.equal((await ev.read(100)).toString(), 'one\n', 'the flushed read consumed nothing');
    await ev.close();
  });

  it('dials tcp!host!port as well as unix sockets', async () => {
    const listener = await srv.server.listen('tcp!127.0.0.1!0');
    try {
      const port = (listener.address() as { port: number }).port;
      const c = await Client.dial(`tcp!127.0.0.1!${port}`);
      assert.equal((await c.readFile('/syn/value')).toString(), 'second part\n');
      c.close();
      for (let i = 0; i < 200 && srv.server.connections > 1; i++) await new Promise((r) => setTimeout(r, 5));
      assert.equal(srv.server.connections, 1, 'the closed tcp connection is gone');
    } finally {
      listener.close();
    }
  });

  it('serves 50 connections at once', async () => {
    const clients = await Promise.all(Array.from({ length: 50 }, () => Client.dial(`unix!${srv.socketPath}`)));
    assert.equal(srv.server.connections, 51);
    await Promise.all(clients.map((c, i) => c.create(`/ram/conn-${i}`, 0o644, OWRITE).then((f) => f.write(`client ${i}`).then(() => f.close()))));
    const texts = await Promise.all(clients.map((c, i) => c.readFile(`/ram/conn-${(i + 1) % 50}`)));
    texts.forEach((t, i) => assert.equal(t.toString(), `client ${(i + 1) % 50}`, 'each sees what another wrote'));
    assert.equal((await client.readdir('/ram')).filter((e) => e.name.startsWith('conn-')).length, 50);
    for (const c of clients) c.close();
  });
});

describe('client against a server that sends a reply in pieces', () => {
  it('a reply cut between two reads is whole when its rest comes', async () => {
    const tmp = tempDir();
    const socketPath = path.join(tmp.dir, 'srv');
    // A server at the byte level: Rversion and Rattach at once, the Rread's first 9 bytes, then the rest later.
    const sockets = new Set<net.Socket>();
    const listener = net.createServer((s) => {
      sockets.add(s);
      const framer = new MessageFramer(1 << 20);
      s.on('data', (chunk: Buffer) => {
        framer.push(chunk);
        for (let f = framer.next(); f !== null; f = framer.next()) {
          const m = decode(f as Buffer) as TMessage;
          if (m.type === 'Tversion') s.write(encode({ type: 'Rversion', tag: m.tag, msize: m.msize, version: '9P2000' }));
          else if (m.type === 'Tattach') s.write(encode({ type: 'Rattach', tag: m.tag, qid: { type: 0, version: 0, path: 1n } }));
          else if (m.type === 'Twalk') s.write(encode({ type: 'Rwalk', tag: m.tag, qids: [] }));
          else if (m.type === 'Topen') s.write(encode({ type: 'Ropen', tag: m.tag, qid: { type: 0, version: 0, path: 1n }, iounit: 0 }));
          else if (m.type === 'Tread') {
            const reply = encode({ type: 'Rread', tag: m.tag, data: Buffer.from(m.offset === 0n ? 'the whole answer, in two pieces' : '') });
            s.write(reply.subarray(0, 9));
            setTimeout(() => s.write(reply.subarray(9)), 30);
          } else if (m.type === 'Tclunk') s.write(encode({ type: 'Rclunk', tag: m.tag }));
        }
      });
    });
    await new Promise<void>((resolve) => listener.listen(socketPath, resolve));
    const c = await Client.dial(`unix!${socketPath}`);
    try {
      const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no whole reply within 3 s')), 3000).unref());
      assert.equal((await Promise.race([c.readFile(''), timeout])).toString(), 'the whole answer, in two pieces');
    } finally {
      c.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
      tmp.remove();
    }
  });
});
