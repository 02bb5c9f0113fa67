/**
 * Replays a recording of the real acme (test/fixtures/acme/*.jsonl) against the fake acme: every
 * T message is sent byte for byte on its own connection in the recorded order, every recorded
 * reply is compared with the fake's (data byte for byte, error texts as substrings), and each
 * `UI: acme-drive ...` note is played on the fake as the user's click, sweep, chord or keys.
 * A `9p` command's connection is hung up after its last message; a program's where a note says it hung up.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { QTDIR } from '../../src/ninep/constants.js';
import type { RMessage, Stat, TMessage } from '../../src/ninep/messages.js';
import { DecodeError, decode, decodeStats } from '../../src/ninep/parser.js';
import type { FakeAcme, Part } from '../fixtures/fake-acme.js';
import { Wire, fixturesDir } from '../helpers.js';

interface Line {
  conn?: number;
  dir?: 'T' | 'R';
  name?: string;
  tag?: number;
  hex?: string;
  note?: string;
}

export function loadAcmeFixture(file: string): Line[] {
  return fs
    .readFileSync(path.join(fixturesDir(), 'acme', file), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Line);
}

function parse(hex: string): TMessage | RMessage {
  const m = decode(Buffer.from(hex, 'hex'));
  if (m instanceof DecodeError) throw new Error(`fixture holds a malformed message: ${m.message}`);
  return m as TMessage | RMessage;
}

/** Words of an acme-drive command line; "double quotes" group. */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

/** Plays one acme-drive command on the fake. */
export function playUI(acme: FakeAcme, command: string, focus: { win: number; part: Part }): Promise<void> | void {
  const [verb, ...a] = words(command);
  const flags = a.filter((w) => w.startsWith('--'));
  const args = a.filter((w) => !w.startsWith('--'));
  switch (verb) {
    case 'click': {
      const [win, part, word, button] = args as [string, Part, string, string];
      focus.win = Number(win);
      focus.part = part;
      const target = flags.includes('--addr') ? Number(word.replace('#', '')) : word;
      acme.click(Number(win), part, target, Number(button) as 1 | 2 | 3, { shift: flags.includes('--shift'), after: flags.includes('--after') });
      return;
    }
    case 'sweep': {
      const [win, part, text, button] = args as [string, Part, string, string];
      focus.win = Number(win);
      focus.part = part;
      acme.sweep(Number(win), part, text, Number(button) as 1 | 2 | 3);
      return;
    }
    case 'chord21': {
      const [win, part, cmd, argWin, argPart, arg] = args as [string, Part, string, string, Part, string];
      acme.select(Number(argWin), argPart, arg);
      acme.chord21(Number(win), part, cmd);
      return;
    }
    case 'type':
      return acme.type(focus.win, focus.part, args[0]!);
    case 'key':
      return acme.key(focus.win, focus.part, 'BackSpace');
    default:
      throw new Error(`replay: unknown acme-drive command ${command}`);
  }
}

function comparable(st: Stat): object {
  return { name: st.name, mode: st.mode, length: st.length, uid: st.uid, qidType: st.qid.type };
}

export interface AcmeReplayResult {
  compared: number;
  wires: Map<number, Wire>;
}

export async function replayAcme(file: string, acme: FakeAcme, socketPath: string): Promise<AcmeReplayResult> {
  const lines = loadAcmeFixture(file);
  const lastLine = new Map<number, number>();
  lines.forEach((l, i) => l.conn !== undefined && lastLine.set(l.conn, i));
  // `9p` commands (they send Tauth) exit after their last message; programs hang up where a note says so.
  const commands = new Set(lines.filter((l) => l.name === 'Tauth').map((l) => l.conn!));
  const done = new Set<number>();
  const wires = new Map<number, Wire>();
  const inbox = new Map<number, Map<number, RMessage[]>>();
  const sent = new Map<number, Map<number, TMessage[]>>();
  const dirFids = new Map<number, Set<number>>();
  const focus: { win: number; part: Part } = { win: 1, part: 'body' };
  let ui: Promise<void> | void = undefined;
  let compared = 0;

  const take = async (conn: number, tag: number, where: string): Promise<RMessage> => {
    const box = inbox.get(conn)!;
    for (;;) {
      const queued = box.get(tag);
      if (queued?.length) return queued.shift()!;
      const m = await wires.get(conn)!.next(3000).catch((e: Error) => {
        throw new Error(`${where}: ${e.message}`);
      });
      if (!box.has(m.tag)) box.set(m.tag, []);
      box.get(m.tag)!.push(m);
    }
  };

  for (const [i, line] of lines.entries()) {
    if (line.note !== undefined) {
      if (/hang up/.test(line.note)) for (const c of done) wires.get(c)?.close();
      const m = /^UI: acme-drive (.*)$/.exec(line.note);
      if (m) {
        await ui;
        // The user acts after the requests sent so far have reached acme (the recorder saw them first).
        await new Promise((r) => setTimeout(r, 15));
        ui = playUI(acme, m[1]!, focus);
      }
      continue;
    }
    const conn = line.conn!;
    const where = `${file}:${i + 1} (conn ${conn}, ${line.name} tag ${line.tag})`;
    if (line.dir === 'T') {
      if (!wires.has(conn)) {
        wires.set(conn, await Wire.connect(socketPath));
        inbox.set(conn, new Map());
        sent.set(conn, new Map());
        dirFids.set(conn, new Set());
      }
      const t = parse(line.hex!) as TMessage;
      const byTag = sent.get(conn)!;
      if (!byTag.has(t.tag)) byTag.set(t.tag, []);
      byTag.get(t.tag)!.push(t);
      wires.get(conn)!.send(Buffer.from(line.hex!, 'hex'));
    } else {
      const recorded = parse(line.hex!) as RMessage;
      const request = sent.get(conn)!.get(line.tag!)!.shift()!;
      const ours = await take(conn, line.tag!, where);
      compared++;
      if (recorded.type === 'Rerror') {
        assert.equal(ours.type, 'Rerror', `${where}: acme answered Rerror "${recorded.ename}", the fake ${JSON.stringify(ours, big)}`);
        const text = (ours as typeof recorded).ename;
        assert.ok(text.includes(recorded.ename), `${where}: acme said "${recorded.ename}", the fake "${text}"`);
      } else {
        assert.equal(ours.type, recorded.type, `${where}: expected ${recorded.type}, got ${JSON.stringify(ours, big)}`);
        compare(recorded, ours, request, dirFids.get(conn)!, where);
      }
    }
    if (lastLine.get(conn) === i) {
      done.add(conn);
      if (commands.has(conn) && line.dir === 'R') wires.get(conn)?.close();
    }
  }
  await ui;
  return { compared, wires };
}

function compare(recorded: RMessage, ours: RMessage, request: TMessage, dirs: Set<number>, where: string): void {
  switch (recorded.type) {
    case 'Rversion':
      assert.deepEqual(ours, recorded, where);
      break;
    case 'Rattach':
      assert.deepEqual((ours as typeof recorded).qid, recorded.qid, where);
      break;
    case 'Rwalk':
      assert.deepEqual((ours as typeof recorded).qids, recorded.qids, `${where}: walk qids`);
      break;
    case 'Ropen': {
      const o = ours as typeof recorded;
      assert.deepEqual(o.qid, recorded.qid, where);
      assert.equal(o.iounit, recorded.iounit, `${where}: iounit`);
      if (request.type === 'Topen') {
        if (recorded.qid.type & QTDIR) dirs.add(request.fid);
        else dirs.delete(request.fid);
      }
      break;
    }
    case 'Rread': {
      const o = ours as typeof recorded;
      if (request.type === 'Tread' && dirs.has(request.fid)) {
        const mine = decodeStats(Buffer.from(o.data));
        const theirs = decodeStats(Buffer.from(recorded.data));
        assert.ok(!(mine instanceof DecodeError) && !(theirs instanceof DecodeError), `${where}: directory data`);
        assert.deepEqual(
          mine.map(comparable).map((s) => JSON.stringify(s, big)),
          theirs.map(comparable).map((s) => JSON.stringify(s, big)),
          `${where}: directory entries`,
        );
      } else {
        assert.equal(Buffer.from(o.data).toString(), Buffer.from(recorded.data).toString(), `${where}: data`);
      }
      break;
    }
    case 'Rwrite':
      assert.equal((ours as typeof recorded).count, recorded.count, `${where}: Rwrite count`);
      break;
    case 'Rstat': {
      const st = { ...recorded.stat, name: recorded.stat.name === '.' && (ours as typeof recorded).stat.name === '/' ? '/' : recorded.stat.name };
      assert.deepEqual(comparable((ours as typeof recorded).stat), comparable(st), `${where}: stat`);
      break;
    }
    default:
      break;
  }
}

function big(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}
