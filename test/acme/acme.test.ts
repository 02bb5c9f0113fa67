/**
 * The acme client against the fake acme: windows, their files, and events as the user makes
 * them (clicks, chords, keys), counted in runes.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Acme } from '../../src/acme/acme.js';
import { EventParser } from '../../src/acme/event.js';
import { FakeAcme } from '../fixtures/fake-acme.js';
import { tempDir } from '../helpers.js';

describe('acme client', () => {
  let tmp: { dir: string; remove(): void };
  let fake: FakeAcme;
  let stop: () => Promise<void>;
  let acme: Acme;
  const env = () => ({ USER: 'tester', NAMESPACE: tmp.dir });

  before(async () => {
    tmp = tempDir();
    fake = new FakeAcme({ user: 'tester' });
    stop = await fake.listen(path.join(tmp.dir, 'acme'));
    acme = await Acme.connect({ env: env() });
  });
  after(async () => {
    acme.close();
    await stop();
    tmp.remove();
  });

  it('attaches as $USER: another name is refused as acme refuses it', async () => {
    await assert.rejects(Acme.connect({ env: { ...env(), USER: 'someone' } }), /permission denied/);
  });

  it('makes a window, names it, writes and reads its body by address', async () => {
    const w = await acme.newWindow();
    await w.name('/tmp/x/notes');
    await w.replace(',', 'héllo wörld\nsecond\n');
    assert.equal(await w.body(), 'héllo wörld\nsecond\n');
    assert.equal(await w.read('#6,#11'), 'wörld');
    await w.addr('#6,#11');
    assert.deepEqual(await w.readAddr(), [6, 11]);
    await w.replace('$', 'third\n');
    const info = await w.info();
    assert.equal(info.bodyLength, 25, 'lengths in runes');
    assert.equal(info.dirty, true);
    await w.ctl('clean', 'show');
    assert.equal((await w.info()).dirty, false);
    const listed = await acme.findWindow('/tmp/x/notes');
    assert.equal(listed?.id, w.id);
    await w.writeTag('Send ');
    assert.match(await w.tag(), /^\/tmp\/x\/notes Del Snarf \| Look Send $/);
    await assert.rejects(w.addr('/nomatch/'), /address out of range/);
    await assert.rejects(w.ctl('bogus'), /ill-formed control message/);
    await w.del(true);
    await w.close();
  });

  it('writes long text of many-byte characters intact (acme converts each write to runes on its own)', async () => {
    const w = await acme.newWindow();
    const text = 'résumé — “quoted” 日本語 🙂\n'.repeat(1200); // ~40 KB, past several iounits
    await w.replace(',', text);
    assert.equal(await w.read(','), text);
    assert.equal([...text].length, [...(await w.read(','))].length);
    await w.del(true);
  });

  it('joins a click with its expansion, and a 2-1 chord with its argument and where it came from', async () => {
    const w = await acme.newWindow();
    await w.name('/tmp/x/chat');
    await w.replace(',', 'Kill a3f2b9d1\nsay ünïcode here\n');
    await w.ctl('clean');
    const next = w.readEvent();
    await new Promise((r) => setTimeout(r, 10));
    fake.click(w.id, 'body', 'Kill', 2);
    let e = (await next)!;
    assert.deepEqual([e.origin, e.type, e.q0, e.q1, e.text, e.flag & 1], ['M', 'X', 0, 4, 'Kill', 1]);
    assert.deepEqual([e.origQ0, e.origQ1], [1, 1], 'the click point, to write back');
    fake.select(w.id, 'body', 'ünïcode');
    fake.chord21(w.id, 'body', 'a3f2b9d1');
    e = (await w.readEvent())!;
    assert.equal(e.text, 'a3f2b9d1');
    assert.equal(e.arg, 'ünïcode');
    assert.equal(e.loc, '/tmp/x/chat:#18,#25');
    fake.click(w.id, 'body', 'here', 3);
    e = (await w.readEvent())!;
    assert.deepEqual([e.type, e.text], ['L', 'here']);
    // Written back, acme looks the word up itself.
    await w.writeEvent(e);
    assert.deepEqual(fake.actions.at(-1), { win: w.id, kind: 'look', text: 'here' });
    await w.del(true);
    assert.equal(await w.readEvent(), null, 'a deleted window ends its events');
    await w.close();
  });

  it('reads text of 256 runes or more, which acme leaves out of the event, from the body', async () => {
    const w = await acme.newWindow();
    const long = `${'ж'.repeat(300)}\n`;
    await w.replace(',', long);
    await w.ctl('clean');
    const next = w.readEvent();
    await new Promise((r) => setTimeout(r, 10));
    fake.sweep(w.id, 'body', { q0: 0, q1: 300 }, 2);
    const e = (await next)!;
    assert.equal(e.text, 'ж'.repeat(300));
    await w.del(true);
    await w.close();
  });

  it('reports typing one rune at a time, and its window in the log', async () => {
    const log = await acme.log();
    const w = await acme.newWindow();
    assert.deepEqual(await log.next(), { id: w.id, op: 'new', name: '' });
    const events = w.events();
    const first = events.next();
    await new Promise((r) => setTimeout(r, 10));
    fake.click(w.id, 'body', 0, 1);
    const typing = fake.type(w.id, 'body', 'añb');
    const got: string[] = [];
    got.push((await first).value!.text);
    for (let i = 0; i < 2; i++) got.push((await events.next()).value!.text);
    await typing;
    assert.deepEqual(got, ['a', 'ñ', 'b']);
    await w.del(true);
    await w.close();
    await log.close();
  });

  it('parses events split anywhere, even inside a character', () => {
    const bytes = Buffer.from('MX0 3 0 3 ñ\nb\nKI3 4 0 1 x\n');
    for (let cut = 1; cut < bytes.length; cut++) {
      const p = new EventParser();
      const all = [...p.push(bytes.subarray(0, cut)), ...p.push(bytes.subarray(cut))];
      assert.deepEqual(all.map((e) => e.text), ['ñ\nb', 'x'], `cut at ${cut}`);
    }
  });
});
