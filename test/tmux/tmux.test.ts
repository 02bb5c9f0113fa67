/** The tmux driver against a real tmux server on a private socket. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { ControlClient } from '../../src/tmux/control.js';
import { commandLine, formatLiteral, quoteArg, unescapeOutput } from '../../src/tmux/quote.js';
import { Tmux, type WindowInfo } from '../../src/tmux/tmux.js';
import { needs, tempDir, until } from '../helpers.js';

const SESSION = 'anvillm-test';



describe('tmux command quoting', () => {
  it('quotes every argument so nothing is expanded or split', () => {
    assert.equal(quoteArg('plain'), '"plain"');
    assert.equal(quoteArg('a "b" $HOME \\ ; #{x}'), '"a \\"b\\" \\$HOME \\\\ ; #{x}"');
    assert.equal(quoteArg('line\nnext\ttab\r\x01\x7f'), '"line\\nnext\\ttab\\r\\001\\177"');
    assert.equal(commandLine(['send-keys', '-t', '%1', 'Enter']), 'send-keys "-t" "%1" "Enter"');
    assert.equal(formatLiteral('/a #{b} ##'), '/a ##{b} ####');
  });

  it('decodes %output escapes to the bytes the pane wrote', () => {
    assert.deepEqual(unescapeOutput('hi\\015\\012\\134x'), Buffer.from('hi\r\n\\x'));
    assert.deepEqual(unescapeOutput(Buffer.from('é', 'utf8').toString('latin1')), Buffer.from('é'));
  });
});

describe('tmux driver', { skip: needs('tmux') }, () => {
  let tmp: ReturnType<typeof tempDir>;
  let tmux: Tmux;
  let socket: string;
  const output = new Map<string, Buffer[]>();
  const deaths: [string, number | null][] = [];
  const closed: string[] = [];
  const ended: string[] = [];

  before(() => {
    tmp = tempDir();
    socket = path.join(tmp.dir, 'tmux.sock');
    tmux = new Tmux({ socket, configFile: '/dev/null' });
    tmux.listen({
      output: (pane, data) => output.set(pane, [...(output.get(pane) ?? []), data]),
      paneDied: (pane, _w, status) => deaths.push([pane, status]),
      windowClosed: (w) => closed.push(w),
      sessionEnded: (s) => ended.push(s),
    });
  });

  after(() => {
    tmux.close();
    try {
      execFileSync('tmux', ['-S', socket, 'kill-server'], { stdio: 'ignore' });
    } catch {
      // already gone
    }
    tmp.remove();
  });

  const textOf = (pane: string) => Buffer.concat(output.get(pane) ?? []).toString();

  it('starts an agent by argv in any cwd, with its environment exact and no secret in any argv', async () => {
    const cwd = path.join(tmp.dir, `we ird 'q" $(touch pwned) \`x\` #{pane_id} ; ~\nline`);
    fs.mkdirSync(cwd);
    const secret = 'sk-"$(touch pwned)"\\ #{pane_id}\nsecond';
    const report = path.join(tmp.dir, 'report');
    const w = await tmux.newWindow({
      session: SESSION,
      name: 'aaaa0001',
      cwd,
      argv: [process.execPath, '-e', `const f = require('fs'); f.writeFileSync(${JSON.stringify(`${report}.part`)}, JSON.stringify({ cwd: process.cwd(), secret: process.env.SECRET_KEY })); f.renameSync(${JSON.stringify(`${report}.part`)}, ${JSON.stringify(report)})`],
      env: { SECRET_KEY: secret },
    });
    await until(() => fs.existsSync(report), 'the agent to run');
    assert.deepEqual(JSON.parse(fs.readFileSync(report, 'utf8')), { cwd, secret });
    assert.equal(fs.existsSync(path.join(cwd, 'pwned')), false);
    assert.equal(fs.existsSync(path.join(tmp.dir, 'pwned')), false);
    for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      let cmdline = '';
      try {
        cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      assert.ok(!cmdline.includes('sk-"$(touch'), `process ${pid} has the secret in its argv: ${cmdline}`);
    }
    assert.match(w.windowId, /^@\d+$/);
    assert.match(w.paneId, /^%\d+$/);
    assert.ok(w.pid > 0);
    await tmux.killWindow(SESSION, w.windowId);
  });

  it('refuses a one-word argv, which tmux would run through sh -c', async () => {
    await assert.rejects(tmux.newWindow({ session: SESSION, name: 'aaaa0002', cwd: tmp.dir, argv: ['sh'], env: {} }), /two or more words/);
  });

  it('streams pane output, captures the pane, and reports the exit status of a program that ends', async () => {
    // Pane ids restart with the tmux server (it exits with its last session): look only at new deaths.
    const seen = deaths.length;
    output.clear();
    const w = await tmux.newWindow({
      session: SESSION,
      name: 'aaaa0003',
      cwd: tmp.dir,
      argv: ['/bin/sh', '-c', 'printf "first\\nsecond é\\n"; sleep 0.2; exit 7'],
      env: {},
      size: { cols: 100, rows: 30 },
    });
    await until(() => deaths.slice(seen).some(([p]) => p === w.paneId), 'the pane to die');
    // (An earlier test's killed pane may report its death late: count only this one's.)
    assert.deepEqual(deaths.slice(seen).filter(([p]) => p === w.paneId), [[w.paneId, 7]]);
    assert.equal(textOf(w.paneId), 'first\r\nsecond é\r\n');
    // (tmux scrolls a dead pane by a line to print "Pane is dead": the first line may be history.)
    const screen = await tmux.capture(SESSION, w.paneId);
    assert.match(screen, /second é\n/);
    assert.match(screen, /Pane is dead \(status 7/);
    const info = (await tmux.window(SESSION, w.windowId)) as WindowInfo;
    assert.deepEqual([info.dead, info.deadStatus, info.name], [true, 7, 'aaaa0003'], 'the window stays, so the screen can be read');
    const endedBefore = ended.length;
    await tmux.killWindow(SESSION, w.windowId);
    // The last window of a tmux session takes the session, and our client of it, with it.
    await until(() => closed.includes(w.windowId) || ended.length > endedBefore, 'the window to close');
    assert.equal(await tmux.window(SESSION, w.windowId), null);
  });

  it('pastes a 10 kB prompt with every special character as one bracketed paste, byte-exact', async () => {
    const got = path.join(tmp.dir, 'pasted');
    // A raw-mode program that asks for bracketed paste, like the agents do.
    const recorder = `
      process.stdin.setRawMode(true); process.stdout.write('\\x1b[?2004h> ');
      let buf = Buffer.alloc(0);
      process.stdin.on('data', (d) => { buf = Buffer.concat([buf, d]);
        const end = buf.indexOf('\\x1b[201~');
        if (end >= 0) { const f = require('fs'); f.writeFileSync(${JSON.stringify(`${got}.part`)}, buf.subarray(0, end + 6)); f.renameSync(${JSON.stringify(`${got}.part`)}, ${JSON.stringify(got)}); process.exit(0); } });`;
    const w = await tmux.newWindow({ session: SESSION, name: 'aaaa0004', cwd: tmp.dir, argv: [process.execPath, '-e', recorder], env: {} });
    await until(() => textOf(w.paneId).includes('> '), 'the prompt');
    let prompt = '';
    for (let c = 0x20; c < 0x7f; c++) prompt += String.fromCharCode(c);
    prompt += '\n\t"quoted" \'single\' $(touch x) `y` #{pane_id} ; \\ é ✓ 🙂\nsecond line\n';
    while (prompt.length < 10_000) prompt += prompt.slice(0, 10_000 - prompt.length);
    await tmux.paste(SESSION, w.paneId, prompt);
    await until(() => fs.existsSync(got), 'the paste to arrive', 10_000);
    const bytes = fs.readFileSync(got);
    assert.ok(bytes.subarray(0, 6).equals(Buffer.from('\x1b[200~')), 'bracketed');
    assert.equal(bytes.subarray(6, bytes.length - 6).toString(), prompt);
    await tmux.killWindow(SESSION, w.windowId);
  });

  it('keeps its replies straight when a pane shows protocol-like lines, or a command on a line fails', async () => {
    const w = await tmux.newWindow({
      session: SESSION,
      name: 'aaaa0007',
      cwd: tmp.dir,
      argv: ['/bin/sh', '-c', 'printf "%%end 1 2 1\\n%%begin 1 3 1\\n%%exit\\nmore\\n"; sleep 30'],
      env: {},
    });
    await until(() => textOf(w.paneId).includes('more'), 'the text');
    const screen = await tmux.capture(SESSION, w.paneId);
    assert.match(screen, /^%end 1 2 1\n%begin 1 3 1\n%exit\nmore\n$/);
    const client = await ControlClient.attach(['-u', '-S', socket], SESSION, null, process.env, {});
    try {
      await assert.rejects(client.commands(['display-message -p one', 'no-such-command', 'display-message -p three']), /unknown command/);
      assert.deepEqual(await client.command('display-message -p four'), ['four']);
    } finally {
      client.close();
    }
    await tmux.killWindow(SESSION, w.windowId);
  });

  it('sends named keys', async () => {
    const got = path.join(tmp.dir, 'keys');
    const reader = `process.stdin.setRawMode(true); let b = ''; process.stdout.write('ready');
      process.stdin.on('data', (d) => { b += d.toString('latin1'); if (b.includes('\\r')) { const f = require('fs'); f.writeFileSync(${JSON.stringify(`${got}.part`)}, b); f.renameSync(${JSON.stringify(`${got}.part`)}, ${JSON.stringify(got)}); process.exit(0); } });`;
    const w = await tmux.newWindow({ session: SESSION, name: 'aaaa0005', cwd: tmp.dir, argv: [process.execPath, '-e', reader], env: {} });
    await until(() => textOf(w.paneId).includes('ready'), 'the reader');
    await tmux.sendKeys(SESSION, w.paneId, ['Escape', 'C-c', 'Enter']);
    await until(() => fs.existsSync(got), 'the keys');
    assert.equal(fs.readFileSync(got, 'latin1'), '\x1b\x03\r');
    await tmux.killWindow(SESSION, w.windowId);
  });

  it('lists the windows to re-adopt, tells how to attach, and what a window inherits', async () => {
    const w = await tmux.newWindow({ session: SESSION, name: 'aaaa0006', cwd: tmp.dir, argv: ['sleep', '30'], env: {} });
    const again = new Tmux({ socket, configFile: '/dev/null' }); // as a restarted daemon would
    const found = await again.listWindows('anvillm-');
    assert.deepEqual(
      found.filter((f) => f.name === 'aaaa0006').map((f) => [f.session, f.windowId, f.paneId, f.dead]),
      [[SESSION, w.windowId, w.paneId, false]],
    );
    assert.deepEqual(await again.attachCommand(SESSION, 'aaaa0006'), ['tmux', '-S', socket, 'attach-session', '-t', `${SESSION}:aaaa0006`]);
    const inherited = await again.inheritedEnv(SESSION);
    assert.ok(inherited.includes('TMUX') && inherited.includes('PATH'));
    assert.ok(!inherited.includes('SECRET_KEY'));
    again.close();
    await tmux.killWindow(SESSION, w.windowId);
  });
});
