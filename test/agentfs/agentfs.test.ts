/** agent/ through our 9P client, over a real unix socket, with the fake agent in real tmux. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Client, NinepError } from '../../src/ninep/client.js';
import { OREAD, ORDWR, OWRITE } from '../../src/ninep/constants.js';
import { unchangedStat } from '../../src/ninep/messages.js';
import type { SessionManager } from '../../src/session/manager.js';
import { fakeEnv, serveAgent, type FakeEnv, type ServedAgent } from '../fixtures/fake-env.js';
import { needs, type Served, until } from '../helpers.js';

describe('agent/', { skip: needs('tmux', 'bwrap') }, () => {
  let world: FakeEnv;
  let manager: SessionManager;
  let srv: Served;
  let served: ServedAgent;
  let c: Client;
  let id = '';

  before(async () => {
    world = fakeEnv();
    served = await serveAgent(world);
    ({ manager, srv } = served);
    c = await Client.dial(`unix!${srv.socketPath}`);
  });

  after(async () => {
    c.close();
    await served.close();
    world.remove();
  });

  const read = async (p: string) => (await c.readFile(p)).toString();
  const stateOf = async (p: string) => (await read(`${p}/state`)).trim();

  it('lists the root and the backends', async () => {
    assert.deepEqual((await c.readdir('/')).map((s) => [s.name, s.mode.toString(8)]), [
      ['ctl', '666'],
      ['list', '444'],
      ['backends', '444'],
      ['events', '444'],
    ]);
    const backends = (await read('backends')).split('\n');
    assert.ok(backends.some((l) => /^fake\tFake\tavailable\t/.test(l)));
    assert.ok(backends.some((l) => l === 'missing\tMissing\tmissing\tno-such-agent-program --flag'));
  });

  it('ctl: new answers the id on the same open; list, the session directory and events follow', async () => {
    const events = await c.open('events', OREAD);
    const cwd = world.project("my project 'q'");
    const ctl = await c.open('ctl', ORDWR);
    const line = `new fake '${cwd.replaceAll("'", "''")}' worker\n`;
    assert.equal(await ctl.write(line), Buffer.byteLength(line), 'Rwrite counts every byte');
    id = (await ctl.read()).toString().trim();
    await ctl.close();
    assert.match(id, /^[0-9a-f]{8}$/);
    assert.equal((await events.read()).toString(), `${id} new fake ${cwd}\n`);
    const list = await read('list');
    assert.match(list, new RegExp(`^${id}\tfake\tstarting\t\\d+\tworker\t${cwd.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n`));
    assert.deepEqual((await c.readdir(id)).map((s) => s.name), ['in', 'out', 'transcript', 'screen', 'err', 'ctl', 'state', 'pid', 'cwd', 'backend', 'attach', 'alias', 'winid', 'context']);
    assert.equal(await read(`worker/cwd`), `${cwd}\n`, 'walking by alias works');
    assert.match((await events.read()).toString(), new RegExp(`^${id} state starting idle\n`));
    await events.close();
    assert.equal(await stateOf(id), 'idle');
  });

  it('in: all writes of one open are one prompt, sent at clunk; out and transcript follow', async () => {
    const f = await c.open(`${id}/in`, OWRITE);
    await f.write('hello ');
    await f.write('world\n');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await stateOf(id), 'idle', 'nothing is sent before clunk');
    await f.close();
    await until(() => manager.get(id)!.out() !== '', 'the answer');
    await until(() => manager.get(id)!.state === 'idle', 'idle');
    assert.equal(await read(`${id}/out`), 'You said: hello world (11 bytes)');
    assert.match(await read(`${id}/transcript`), /^USER: hello world\n\nASSISTANT: You said: hello world/);
    assert.match(await read(`${id}/screen`), /You said: hello world/);
  });

  it('refuses at write time what cannot be sent, with the reason', async () => {
    const f = await c.open(`${id}/in`, OWRITE);
    await assert.rejects(f.write('/model opus\n'), (e: Error) => e instanceof NinepError && e.message === '/model needs the terminal: use Attach');
    await f.close();
    await assert.rejects(c.writeFile('ctl', 'new nope /tmp\n'), /no backend "nope"; have: /);
    await assert.rejects(c.writeFile('ctl', 'frob\n'), /unknown command "frob": usage: new <backend> <cwd> \[alias\]/);
    await assert.rejects(c.writeFile(`${id}/ctl`, 'dance\n'), /unknown command "dance": usage: stop \| kill/);
    await assert.rejects(c.writeFile(`${id}/alias`, 'deadbeef\n'), /bad alias "deadbeef"/);
  });

  it('alias as 9pfuse writes it (echo x > alias): open without OTRUNC, truncate by wstat, write, clunk', async () => {
    const f = await c.open(`${id}/alias`, OWRITE);
    await c.wstat(`${id}/alias`, { ...unchangedStat(), length: 0n });
    await f.write('renamed\n');
    await f.close();
    assert.equal(await read(`${id}/alias`), 'renamed\n');
    assert.equal(await read('renamed/state'), 'idle\n');
    assert.deepEqual((await c.stat(`${id}/alias`)).length, 8n, "stat's length is the content's");
  });

  it('context and winid round-trip; attach says how to attach', async () => {
    await c.writeFile(`${id}/context`, 'Be brief.\n');
    assert.equal(await read(`${id}/context`), 'Be brief.');
    await c.writeFile(`${id}/winid`, '42\n');
    assert.equal(await read(`${id}/winid`), '42\n');
    assert.match(await read(`${id}/attach`), new RegExp(`^tmux -S \\S+ attach-session -t anvillm-fake:${id}\n$`));
  });

  it('ctl: a quoted word may hold a newline, and a command may come in pieces', async () => {
    const dir = world.project('line\nbreak');
    const ctl = await c.open('ctl', ORDWR);
    await ctl.write("new fake '");
    await ctl.write(`${dir}' multi\n`);
    const other = (await ctl.read()).toString().trim();
    await ctl.close();
    assert.equal(manager.get('multi')?.id, other);
    assert.equal(manager.get(other)!.cwd, dir);
    await c.writeFile(`${other}/ctl`, 'kill');
    assert.equal(manager.get(other), undefined, 'a write without a newline is one command');
  });

  it('ctl kill ends the session; an open in then refuses writes, and the session has left list and agent/', async () => {
    const events = await c.open('events', OREAD);
    const input = await c.open(`${id}/in`, OWRITE);
    await c.writeFile(`${id}/ctl`, 'kill\n');
    await assert.rejects(input.write('late'), new RegExp(`session ${id} has exited`));
    let seen = '';
    while (!seen.includes(`${id} gone\n`)) seen += (await events.read()).toString();
    assert.match(seen, new RegExp(`${id} state \\w+ exited\n${id} exit -\n${id} gone\n`), 'exited, then gone');
    await events.close();
    assert.doesNotMatch(await read('list'), new RegExp(id));
    await assert.rejects(c.open(`${id}/state`, OREAD), /file does not exist/, 'walking to it fails like any missing name');
    assert.equal((await c.readdir('/')).some((d) => d.name === id), false);
  });
});
