/**
 * The window kit every Assist window is opened with, against the fake acme: the tag is the
 * command table, a command runs with its argument, its error reaches +Errors as "<cmd>: …",
 * what the window does not take is written back to acme, and a window that fails while being
 * made is deleted.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Acme, type Win } from '../../src/acme/acme.js';
import type { Event } from '../../src/acme/event.js';
import type { Host } from '../../src/ui/host.js';
import { openWindow, type AcmeWindow, type Command } from '../../src/ui/window.js';
import { FakeAcme } from '../fixtures/fake-acme.js';
import { tempDir, until } from '../helpers.js';

class Probe implements AcmeWindow {
  ran: string[] = [];
  constructor(
    readonly win: Win,
    private readonly title: string,
    private readonly failFill = false,
  ) {}

  name(): string {
    return this.title;
  }

  commands(): Record<string, Command> {
    return {
      Echo: async (rest) => void this.ran.push(`Echo ${rest}`),
      Fail: async () => {
        throw new Error('it went wrong: try again');
      },
    };
  }

  async fill(): Promise<void> {
    if (this.failFill) throw new Error('no such session');
    await this.win.replace(',', 'body\n');
  }
}

describe('the Acme window kit', () => {
  const tmp = tempDir();
  const fake = new FakeAcme({ user: 'tester' });
  let stop: () => Promise<void>;
  let acme: Acme;
  const errors: string[] = [];
  let host: Host;

  before(async () => {
    const socket = path.join(tmp.dir, 'acme');
    stop = await fake.listen(socket);
    acme = await Acme.connect({ address: `unix!${socket}`, env: { ...process.env, USER: 'tester' } });
    // The part of Assist the kit uses: acme, where errors go, and the loop over a window's events.
    host = {
      acme,
      error: (m: string) => errors.push(m),
      run: (win: Win, handle: (e: Event) => Promise<void>, gone: () => void) =>
        void (async () => {
          for await (const e of win.events()) await handle(e).catch((err: unknown) => errors.push(String(err)));
          gone();
          await win.close();
        })(),
    } as unknown as Host;
  });

  after(async () => {
    acme?.close();
    await stop();
    tmp.remove();
  });

  it('names, tags from the table and fills; runs a command with its argument; reports an error as "<cmd>: …"; writes back the rest', async () => {
    const w = await openWindow(host, (win) => new Probe(win, '/Probe/'), () => {});
    const fw = fake.byName('/Probe/')!;
    assert.match(fw.tag.toString(), /\| Look Echo Fail $/, 'the tag is the table');
    assert.equal(fw.body.toString(), 'body\n');
    await until(() => fake.reading(fw.id), 'the event loop');
    await fake.type(fw.id, 'tag', ' Echo hello');
    fake.sweep(fw.id, 'tag', 'Echo hello', 2);
    await until(() => w.ran.length === 1, 'Echo to run');
    assert.deepEqual(w.ran, ['Echo hello']);
    fake.click(fw.id, 'tag', 'Fail', 2);
    await until(() => errors.length === 1, 'the error');
    assert.deepEqual(errors, ['Fail: it went wrong: try again']);
    fake.click(fw.id, 'tag', 'Del', 2);
    await until(() => fake.actions.some((a) => a.win === fw.id && a.kind === 'execute' && a.text === 'Del'), 'Del written back to acme');
    await until(() => fake.byName('/Probe/') === undefined, 'acme to delete the window');
  });

  it('a window whose fill fails is deleted, and the error is the caller\'s', async () => {
    await assert.rejects(openWindow(host, (win) => new Probe(win, '/Half/', true), () => {}), /no such session/);
    assert.equal(fake.byName('/Half/'), undefined);
  });
});
