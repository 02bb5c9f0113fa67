/**
 * Every error agent/ can produce, provoked through a real daemon tree with the longest inputs a
 * client can send: each Rerror fits plan9port's ERRMAX (127 bytes, all its `9p` prints) and still
 * says what failed and what to do; a refused command's whole explanation is read on the same ctl
 * open, and the daemon's log has it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { main } from '../../src/cli/anvillm.js';
import { Client, NinepError, type ClientFile } from '../../src/ninep/client.js';
import { OREAD, ORDWR, OWRITE } from '../../src/ninep/constants.js';
import { unchangedStat } from '../../src/ninep/messages.js';
import { ERRMAX } from '../../src/protocol/protocol.js';
import { fakeEnv, serveAgent, type FakeEnv, type ServedAgent } from '../fixtures/fake-env.js';
import { needs, until } from '../helpers.js';

const long = (c: string, n = 5000) => c.repeat(n);

describe('agent/ errors', { skip: needs('tmux', 'bwrap') }, () => {
  let world: FakeEnv;
  let served: ServedAgent;
  let c: Client;
  const logged: string[] = [];
  let live = '';
  /** Exited by itself (crashed): still listed. */
  let dead = '';
  /** A ctl opened before its session was killed (a killed session leaves agent/). */
  let killedCtl: ClientFile;

  before(async () => {
    world = fakeEnv();
    served = await serveAgent(world, {}, (line) => logged.push(line));
    c = await Client.dial(`unix!${served.srv.socketPath}`);
    const make = async (alias: string) => {
      const ctl = await c.open('ctl', ORDWR);
      await ctl.write(`new fake ${world.project(alias)} ${alias}\n`);
      const id = (await ctl.read()).toString().trim();
      await ctl.close();
      return id;
    };
    live = await make('live');
    dead = await make('dead');
    const crashing = served.manager.get(dead)!;
    await until(() => crashing.state === 'idle', 'idle', 20_000);
    await c.writeFile(`${dead}/in`, '/crash');
    await until(() => crashing.state === 'exited', 'the crash', 10_000);
    const killed = await make('killed');
    killedCtl = await c.open(`${killed}/ctl`, ORDWR);
    await c.writeFile(`${killed}/ctl`, 'kill\n');
  });

  after(async () => {
    c.close();
    await served.close();
    world.remove();
  });

  const ctlLine = async (file: string, line: string) => c.writeFile(file, line);
  const slash = long('x', 3000);
  /** [what provokes it, how, what the Rerror must still say] */
  const cases: [string, () => Promise<unknown>, RegExp][] = [
    ['unknown root command', () => ctlLine('ctl', `${long('b')}\n`), /^unknown command "b+…b+": usage: new <backend> <cwd> \[alias\] \[worktree\[=<branch>\]\]$/],
    ['new without a directory', () => ctlLine('ctl', 'new fake\n'), /^usage: new <backend> <cwd> \[alias\] \[worktree\[=<branch>\]\]$/],
    ['unknown backend', () => ctlLine('ctl', `new ${long('n')} /tmp\n`), /^no backend "n+…n+"; have: .*fake/],
    ['missing directory', () => ctlLine('ctl', `new fake /${long('d', 4000)}\n`), /^\/d+…d+ does not exist: give an existing directory$/],
    ['not a directory', () => ctlLine('ctl', `new fake ${process.execPath}\n`), /is not a directory: give a directory$/],
    ['alias too long', () => ctlLine('ctl', `new fake /tmp ${long('a')}\n`), /^bad alias "a+…a+": at most 64 characters$/],
    ['alias with bad characters', () => ctlLine('ctl', `new fake /tmp ${long('é', 40)}\n`), /^bad alias "é+": use letters, digits, - and _$/],
    ['alias like an id', () => ctlLine('ctl', 'new fake /tmp deadbeef\n'), /look like a session id$/],
    ['alias of a root file', () => ctlLine('ctl', 'new fake /tmp events\n'), /it is a file in agent\/$/],
    ['alias taken', () => ctlLine('ctl', 'new fake /tmp live\n'), /^alias "live" already exists: pick another$/],
    ['program not installed', () => ctlLine('ctl', 'new missing /tmp\n'), /^no-such-agent-program is not installed: apt-get install no-such-agent$/],
    ['ctl truncated to a length', () => c.wstat('ctl', { ...unchangedStat(), length: 5n }), /^permission denied: ctl only takes commands$/],
    ['unknown session command', () => ctlLine(`${live}/ctl`, `${long('q')}\n`), /^unknown command "q+…q+": usage: stop \| kill/],
    ['save with two paths', () => ctlLine(`${live}/ctl`, 'save a b\n'), /^usage: stop \| kill/],
    ['load without a path', () => ctlLine(`${live}/ctl`, 'load\n'), /^usage: stop \| kill/],
    ['save to a path with a newline', () => ctlLine(`${live}/ctl`, `save '${long('p', 2000)}\n'\n`), /^bad path "p+…p+\\n": no control characters or newlines$/],
    ['load of a missing file', () => ctlLine(`${live}/ctl`, `load /${long('l', 3000)}\n`), /(cannot load a saved conversation: use Attach|does not exist)$/],
    ['alias by ctl, too long', () => ctlLine(`${live}/ctl`, `alias ${long('z')}\n`), /^bad alias "z+…z+": at most 64 characters$/],
    ['alias file, too long', () => c.writeFile(`${live}/alias`, long('y', 1000)), /^bad alias "y+…y+": at most 64 characters$/],
    ['alias file, past its cap', () => c.writeFile(`${live}/alias`, long('y')), /^alias: write too long: at most 1024 bytes per open; open it again$/],
    ['alias file, taken', () => c.writeFile(`${live}/alias`, 'dead'), /^alias "dead" already exists: pick another$/],
    ['winid not a number', () => c.writeFile(`${live}/winid`, long('w', 60)), /^winid "w+" is not a window number: illegal argument$/],
    ['winid past its cap', () => c.writeFile(`${live}/winid`, long('w')), /^winid: write too long: at most 64 bytes per open; open it again$/],
    ['a slash command that needs the terminal', () => c.writeFile(`${live}/in`, `/${slash}`), /^\/x+…x+ needs the terminal: use Attach$/],
    ['a prompt to an exited session', () => c.open(`${dead}/in`, OWRITE), /^session [0-9a-f]{8} has exited: start a new one$/],
    ['restart of a killed session', () => killedCtl.write('restart\n'), /^session [0-9a-f]{8} was killed: start a new one$/],
    ['a missing name', () => c.open(long('m', 200), OREAD), /^'m+…m+' file does not exist$/],
    ['writing a read-only file', () => c.open(`${live}/out`, OWRITE), /^permission denied/],
  ];

  for (const [what, provoke, says] of cases) {
    it(`${what}: fits in ${ERRMAX} bytes and says what to do`, async () => {
      await assert.rejects(provoke(), (e: unknown) => {
        assert.ok(e instanceof NinepError, String(e));
        assert.ok(Buffer.byteLength(e.message) <= ERRMAX, `${Buffer.byteLength(e.message)} bytes: ${e.message}`);
        assert.match(e.message, says);
        return true;
      });
    });
  }

  it('the screen of an exited session: a short error', async () => {
    await assert.rejects(c.readFile(`${dead}/screen`), (e: unknown) => e instanceof NinepError && Buffer.byteLength(e.message) <= ERRMAX);
  });

  it('no sandbox: a short Rerror with the fix; the whole refusal read back on the same open, printed by anvillm, logged', async () => {
    const policy = path.join(world.env['HOME']!, '.config', 'anvillm', 'sandbox.yaml');
    const before = fs.readFileSync(policy, 'utf8');
    // landrun is not installed here, or cannot keep the agent from unix sockets: strict mode refuses.
    fs.writeFileSync(policy, before.replace('provider: auto', 'provider: landrun'));
    try {
      const ctl = await c.open('ctl', ORDWR);
      await assert.rejects(ctl.write(`new fake ${world.project('nosandbox')}\n`), (e: unknown) => {
        assert.ok(e instanceof NinepError);
        assert.ok(Buffer.byteLength(e.message) <= ERRMAX, e.message);
        assert.equal(e.message, 'no sandbox for fake: set general.provider: auto; see anvillm sandbox check');
        return true;
      });
      const whole = (await ctl.read()).toString();
      await ctl.close();
      assert.match(whole, /^no sandbox for fake: set general\.provider: auto; see anvillm sandbox check\nsandbox: no provider can enforce .*sandbox\.yaml, so the agent was not started:\n  - landrun/);
      assert.match(whole, /Or set general\.best_effort: true/);
      assert.ok(logged.some((l) => l.startsWith('agent/ctl: no sandbox for fake') && l.includes('Or set general.best_effort')), logged.join('\n'));

      const err: string[] = [];
      const ns = path.join(world.root, 'ns');
      fs.mkdirSync(ns, { mode: 0o700, recursive: true });
      if (!fs.existsSync(path.join(ns, 'agent'))) fs.symlinkSync(served.srv.socketPath, path.join(ns, 'agent'));
      const env = { ...world.env, NAMESPACE: ns };
      const code = await main(['new', 'fake', world.project('nosandbox')], { env, stdout: () => {}, stderr: (l) => err.push(l) });
      assert.equal(code, 1);
      assert.match(err.join('\n'), /^anvillm new: no sandbox for fake: set general\.provider: auto; see anvillm sandbox check\nsandbox: no provider can enforce [\s\S]*Or set general\.best_effort/);
    } finally {
      fs.writeFileSync(policy, before);
    }
  });
});
