/**
 * Replays recorded 9P traffic (test/fixtures/9p, from plan9port's `9p`, 9pfuse and plumb) against
 * our server: every T message is sent byte for byte on its own connection, in the recorded order
 * (so 9pfuse's pipelining is reproduced), and each recorded reply is compared with ours.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { QTDIR } from '../../src/ninep/constants.js';
import type { RMessage, Stat, TMessage } from '../../src/ninep/messages.js';
import { DecodeError, decode, decodeStats } from '../../src/ninep/parser.js';
import { Wire, fixturesDir } from '../helpers.js';

export interface FixtureLine {
  conn: number;
  dir: 'T' | 'R';
  name: string;
  tag: number;
  hex: string;
  ename?: string;
  text?: string;
}

export function loadFixture(file: string): FixtureLine[] {
  const text = fs.readFileSync(path.join(fixturesDir(), '9p', file), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as FixtureLine & { note?: string })
    .filter((l) => l.note === undefined);
}

function parse(hex: string): TMessage | RMessage {
  const m = decode(Buffer.from(hex, 'hex'));
  if (m instanceof DecodeError) throw new Error(`fixture holds a malformed message: ${m.message}`);
  return m as TMessage | RMessage;
}

/**
 * The errno 9pfuse gives an Rerror text (plan9port src/cmd/9pfuse/errstr.c): the first entry of
 * its table found in the text, case-insensitively; ERANGE when none is.
 */
export function fuseErrno(ename: string): string {
  const table: [string, string][] = [
    ['permitted', 'EPERM'], ['permission', 'EACCES'], ['access', 'EACCES'], ['exists', 'EEXIST'],
    ['exist', 'ENOENT'], ['no such', 'ENOENT'], ['not found', 'ENOENT'], ['input/output', 'EIO'],
    ['timeout', 'ETIMEDOUT'], ['timed out', 'ETIMEDOUT'], ['i/o', 'EIO'], ['too long', 'E2BIG'],
    ['interrupt', 'EINTR'], ['bad file', 'EBADF'], [' fid ', 'EBADF'], ['temporar', 'EAGAIN'],
    ['memory', 'ENOMEM'], ['is a directory', 'EISDIR'], ['directory', 'ENOTDIR'], ['argument', 'EINVAL'],
    ['pipe', 'EPIPE'], ['in use', 'EBUSY'], ['busy', 'EBUSY'], ['illegal', 'EINVAL'],
    ['read-only', 'EROFS'], ['read only', 'EROFS'], ['proto', 'EPROTO'], ['entry', 'ENOENT'],
  ];
  const lower = ename.toLowerCase();
  return table.find(([text]) => lower.includes(text))?.[1] ?? 'ERANGE';
}

/** The parts of a stat that must agree with the reference; qid.path, times, type and dev may not. */
function comparable(st: Stat): object {
  return { name: st.name, mode: st.mode, length: st.length, uid: st.uid, gid: st.gid, muid: st.muid, qidType: st.qid.type };
}

export interface ReplayOptions {
  /** Names the reference gives its root in a stat (ramfs says "."; stat(5) and we say "/"). */
  rootName?: string;
}

export interface ReplayResult {
  /** Open wires, one per recorded connection; the recording ends without closing them. */
  wires: Map<number, Wire>;
  /** Replies compared. */
  compared: number;
  /** T messages still unanswered at the end of the recording (e.g. a blocked read). */
  unanswered: number;
}

/**
 * Sends the recorded T messages and checks our replies against the recorded R messages:
 * same type, same counts and data; qid paths, times and the text of errors may differ, but an
 * error must map to the same errno under 9pfuse.
 */
export async function replay(file: string, socketPath: string, options: ReplayOptions = {}): Promise<ReplayResult> {
  const lines = loadFixture(file);
  const wires = new Map<number, Wire>();
  // Replies that arrived, per connection and tag, in order.
  const inbox = new Map<number, Map<number, RMessage[]>>();
  const sent = new Map<number, Map<number, TMessage[]>>();
  // Which fids the recorded client opened on a directory (their reads are directory reads).
  const dirFids = new Map<number, Set<number>>();
  let compared = 0;

  const take = async (conn: number, tag: number): Promise<RMessage> => {
    const wire = wires.get(conn)!;
    const box = inbox.get(conn)!;
    for (;;) {
      const queued = box.get(tag);
      if (queued?.length) return queued.shift()!;
      const m = await wire.next();
      if (!box.has(m.tag)) box.set(m.tag, []);
      box.get(m.tag)!.push(m);
    }
  };

  for (const [i, line] of lines.entries()) {
    const where = `${file}:${i + 1} (conn ${line.conn}, ${line.name} tag ${line.tag})`;
    if (line.dir === 'T') {
      if (!wires.has(line.conn)) {
        wires.set(line.conn, await Wire.connect(socketPath));
        inbox.set(line.conn, new Map());
        sent.set(line.conn, new Map());
        dirFids.set(line.conn, new Set());
      }
      const t = parse(line.hex) as TMessage;
      const byTag = sent.get(line.conn)!;
      if (!byTag.has(t.tag)) byTag.set(t.tag, []);
      byTag.get(t.tag)!.push(t);
      wires.get(line.conn)!.send(Buffer.from(line.hex, 'hex'));
      continue;
    }
    const recorded = parse(line.hex) as RMessage;
    const request = sent.get(line.conn)!.get(line.tag)!.shift()!;
    const ours = await take(line.conn, line.tag);
    compared++;
    if (recorded.type === 'Rerror') {
      assert.equal(ours.type, 'Rerror', `${where}: the reference answered Rerror "${recorded.ename}", we answered ${ours.type}`);
      assert.equal(
        fuseErrno((ours as typeof recorded).ename),
        fuseErrno(recorded.ename),
        `${where}: our error "${(ours as typeof recorded).ename}" maps to another errno than "${recorded.ename}"`,
      );
      continue;
    }
    assert.equal(ours.type, recorded.type, `${where}: expected ${recorded.type}, got ${JSON.stringify(ours, bigintJson)}`);
    switch (recorded.type) {
      case 'Rversion':
        assert.deepEqual(ours, recorded, where);
        break;
      case 'Rattach':
        assert.equal((ours as typeof recorded).qid.type, recorded.qid.type, where);
        break;
      case 'Rwalk':
        assert.deepEqual(
          (ours as typeof recorded).qids.map((q) => q.type),
          recorded.qids.map((q) => q.type),
          `${where}: walk qids`,
        );
        break;
      case 'Ropen':
      case 'Rcreate': {
        const o = ours as typeof recorded;
        assert.equal(o.qid.type, recorded.qid.type, where);
        // ramfs sometimes, and plumber always, answer 0 ("use msize - 24"); we always say the number.
        if (recorded.iounit !== 0) assert.equal(o.iounit, recorded.iounit, `${where}: iounit`);
        if ('fid' in request) {
          const fids = dirFids.get(line.conn)!;
          if (recorded.qid.type & QTDIR) fids.add(request.fid);
          else fids.delete(request.fid);
        }
        break;
      }
      case 'Rread': {
        const o = ours as typeof recorded;
        const isDirRead = request.type === 'Tread' && dirFids.get(line.conn)!.has(request.fid);
        if (isDirRead) {
          // Entry order and byte-level fields (times, qid paths, ramfs's uninitialised type/dev) differ.
          const mine = decodeStats(Buffer.from(o.data));
          const theirs = decodeStats(Buffer.from(recorded.data));
          assert.ok(!(mine instanceof DecodeError) && !(theirs instanceof DecodeError), `${where}: directory data`);
          const key = (s: object) => JSON.stringify(s, bigintJson);
          assert.deepEqual(mine.map(comparable).map(key).sort(), theirs.map(comparable).map(key).sort(), `${where}: directory entries`);
          assert.equal(o.data.length, recorded.data.length, `${where}: directory read size`);
        } else {
          assert.equal(Buffer.from(o.data).toString('latin1'), Buffer.from(recorded.data).toString('latin1'), `${where}: data`);
        }
        break;
      }
      case 'Rwrite':
        assert.equal((ours as typeof recorded).count, recorded.count, `${where}: Rwrite count`);
        break;
      case 'Rstat': {
        const st = { ...recorded.stat };
        if (options.rootName !== undefined && st.name === options.rootName) st.name = '/';
        assert.deepEqual(comparable((ours as typeof recorded).stat), comparable(st), `${where}: stat`);
        break;
      }
      default:
        break; // Rclunk, Rremove, Rflush, Rwstat: the type is the answer.
    }
  }
  let unanswered = 0;
  for (const byTag of sent.values()) for (const list of byTag.values()) unanswered += list.length;
  return { wires, compared, unanswered };
}

export function bigintJson(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
