/**
 * plan9port's `9p` against agent/: the message sequences recorded against the Go original
 * (test/fixtures/9p/B1-9p-anvillm-orig.jsonl) sent to ours, byte for byte but for the session id,
 * the backend and the directory. The retry that the original's short Rwrite caused is left out.
 * Our answers must match the recording's in type, except where the original was wrong (each
 * listed below with DESIGN §2's answer), and carry the data DESIGN §2 says.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { RMessage, TMessage } from '../../src/ninep/messages.js';
import { DecodeError, decode, decodeStats } from '../../src/ninep/parser.js';
import type { SessionManager } from '../../src/session/manager.js';
import type { Session } from '../../src/session/session.js';
import { fakeEnv, serveAgent, type FakeEnv, type ServedAgent } from '../fixtures/fake-env.js';
import { fixturesDir, needs, type Served, until, Wire } from '../helpers.js';

interface Line {
  conn: number;
  dir: 'T' | 'R';
  name: string;
  hex: string;
}

const ORIGINAL_ID = 'd23acbff';

describe('plan9port 9p against agent/ (B3: what agent/ does not allow, recorded against the original)', { skip: needs('tmux') }, () => {
  it('create, rm of list, write to list, read of ctl: refused with permission errors, fids freed', async () => {
    const world = fakeEnv();
    const { srv, close } = await serveAgent(world, { uid: 'root' });
    try {
      const lines = fs
        .readFileSync(path.join(fixturesDir(), '9p', 'B3-unsupported-anvillm-orig.jsonl'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Line);
      const wires = new Map<number, Wire>();
      for (const [i, line] of lines.entries()) {
        const where = `B3:${i + 1}`;
        // The original let list open for writing and failed the write (35-38): ours refuses the
        // open, so `9p write` never sends the Twrite.
        if (i + 1 === 37 || i + 1 === 38) continue;
        if (line.dir === 'T') {
          if (!wires.has(line.conn)) wires.set(line.conn, await Wire.connect(srv.socketPath));
          wires.get(line.conn)!.send(Buffer.from(line.hex, 'hex'));
          continue;
        }
        const recorded = decode(Buffer.from(line.hex, 'hex')) as RMessage;
        const ours = await wires.get(line.conn)!.next();
        if ([10, 24, 36].includes(i + 1)) {
          // "not supported" maps to ERANGE under 9pfuse; ours say "permission denied" (EACCES).
          assert.ok(ours.type === 'Rerror' && /^permission denied: /.test(ours.ename), `${where}: ${JSON.stringify(ours)}`);
          continue;
        }
        assert.equal(ours.type, recorded.type, `${where}: ${ours.type === 'Rerror' ? ours.ename : ''}`);
        if (ours.type === 'Rread') assert.equal(ours.data.length, 0, `${where}: reading ctl before any command gives nothing`);
      }
      for (const w of wires.values()) w.close();
    } finally {
      await close();
      world.remove();
    }
  });
});

describe('plan9port 9p against agent/ (B1, recorded against the original)', { skip: needs('tmux', 'bwrap') }, () => {
  let world: FakeEnv;
  let manager: SessionManager;
  let srv: Served;
  let served: ServedAgent;

  before(async () => {
    world = fakeEnv();
    served = await serveAgent(world, { uid: 'root' });
    ({ manager, srv } = served);
  });

  after(async () => {
    await served.close();
    world.remove();
  });

  it('ls, ls -l, read list, write ctl new, the session directory, state, in, alias, stat, missing names, kill', async () => {
    const lines = fs
      .readFileSync(path.join(fixturesDir(), '9p', 'B1-9p-anvillm-orig.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Line);
    const dir = world.project('b1');
    let id = ORIGINAL_ID;
    let session: Session | undefined;
    const wires = new Map<number, Wire>();
    let lastT: TMessage | null = null;
    const answered: string[] = [];

    // `9p` reads on from where our last reply ended, not from where the original's did.
    const readSoFar = new Map<string, number>();
    const substitute = (t: TMessage, conn: number): TMessage => {
      if (t.type === 'Topen') readSoFar.set(`${conn}/${t.fid}`, 0);
      if (t.type === 'Tread') return { ...t, offset: BigInt(readSoFar.get(`${conn}/${t.fid}`) ?? 0) };
      if (t.type === 'Twalk') return { ...t, wnames: t.wnames.map((w) => (w === ORIGINAL_ID ? id : w)) };
      if (t.type === 'Twrite' && Buffer.from(t.data).toString() === 'new sh /tmp\n') return { ...t, data: Buffer.from(`new fake ${dir}\n`) };
      return t;
    };

    for (const [i, line] of lines.entries()) {
      const where = `B1:${i + 1}`;
      // The original answered Rwrite 8 of 12, so lib9pclient sent the rest again (73-74): ours takes all 12.
      if (i + 1 === 73 || i + 1 === 74) continue;
      const m = decode(Buffer.from(line.hex, 'hex'));
      assert.ok(!(m instanceof DecodeError), where);
      if (line.dir === 'T') {
        if (!wires.has(line.conn)) {
          for (const w of wires.values()) w.close(); // each `9p` command is a connection of its own
          wires.set(line.conn, await Wire.connect(srv.socketPath));
        }
        lastT = substitute(m as TMessage, line.conn);
        // c7 reads the state: the original's shell agent was idle at once; ours says starting until it is.
        if (line.conn === 7 && lastT.type === 'Twalk') await until(() => manager.get(id)?.state === 'idle', 'idle');
        // c14 kills it: first let c8's prompt be answered (the original's agent answered nothing).
        if (line.conn === 14 && lastT.type === 'Twalk') {
          await until(() => manager.get(id)?.out() !== '', 'the answer to "hi"');
          session = manager.get(id)!; // a killed session leaves the manager
        }
        wires.get(line.conn)!.send(lastT);
        continue;
      }
      const recorded = m as RMessage;
      const ours = await wires.get(line.conn)!.next();
      if (ours.type === 'Rread' && lastT?.type === 'Tread') {
        const key = `${line.conn}/${lastT.fid}`;
        readSoFar.set(key, (readSoFar.get(key) ?? 0) + ours.data.length);
      }
      answered.push(`${where} ${ours.type}`);
      const text = ours.type === 'Rread' ? Buffer.from(ours.data).toString() : '';
      switch (i + 1) {
        case 72: // the original: Rwrite 8 (the id's length); read(9P): every byte written
          assert.deepEqual([ours.type, ours.type === 'Rwrite' && ours.count], ['Rwrite', Buffer.byteLength(`new fake ${dir}\n`)], where);
          id = manager.list()[0]!.id;
          continue;
        case 86: // list: id backend state pid alias cwd (alias "-")
          assert.match(text, new RegExp(`^${id}\tfake\t(starting|idle)\t\\d+\t-\t${dir}\n$`), where);
          continue;
        case 108: // the session directory, whole entries
          assert.equal(ours.type, 'Rread', where);
          assert.deepEqual(
            (decodeStats(Buffer.from(ours.type === 'Rread' ? ours.data : new Uint8Array())) as { name: string }[]).map((s) => s.name),
            ['in', 'out', 'transcript', 'screen', 'err', 'ctl', 'state', 'pid', 'cwd', 'backend', 'attach', 'alias', 'winid', 'context'],
          );
          continue;
        case 124: // state, with its newline
          assert.equal(text, 'idle\n', where);
          continue;
        case 168: // alias, as written (trailing newline kept as one line)
          assert.equal(text, 'bob\n', where);
          continue;
        case 182: // stat agrees with the directory: ctl is rw (the original said 0444, length 0)
          assert.ok(ours.type === 'Rstat' && ours.stat.mode === 0o666 && ours.stat.name === 'ctl', where);
          continue;
        case 202: // walk(5): only a failing FIRST name is an Rerror; [id, missing] is a short Rwalk
          assert.ok(ours.type === 'Rwalk' && ours.qids.length === 1, `${where}: ${ours.type}`);
          continue;
        case 228: // after kill the session has left the list, as in the original
          assert.doesNotMatch(text, new RegExp(id), where);
          continue;
        default:
          assert.equal(ours.type, recorded.type, `${where}: expected ${recorded.type}, got ${ours.type}${ours.type === 'Rerror' ? ` (${ours.ename})` : ''}`);
          if (recorded.type === 'Rread' && Buffer.from(recorded.data).length === 0) assert.equal(text, '', `${where}: end of file`);
      }
    }
    for (const w of wires.values()) w.close();
    assert.ok(answered.length > 90, `${answered.length} replies compared`);
    assert.equal(manager.get(id), undefined, 'killed, it has left');
    assert.equal(session!.alias, 'bob');
    assert.equal(session!.state, 'exited');
    // `echo hi | 9p write …/in` reached the agent as one prompt, its newline trimmed.
    assert.equal(fs.readFileSync(path.join(dir, 'prompts.log'), 'utf8'), '"hi"\n');
    assert.match(session!.transcript(), /^USER: hi\n\nASSISTANT: You said: hi \(2 bytes\)/);
  });
});
