/**
 * Assist end to end: a real daemon (real tmux, the scripted fake agent) and the fake acme, the
 * user played with the events acme sends for clicks, sweeps, 2-1 chords and typing.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { runAssist } from '../../src/ui/assist.js';
import { NO_TERMINAL, terminalCommand } from '../../src/ui/terminal.js';
import { needs, until } from '../helpers.js';
import { assistWorld, type AssistWorld } from './world.js';

const skip = needs('tmux', 'bwrap');

/** The table row of a session (its line in /AnviLLM/). */
function row(w: AssistWorld, id: string): string {
  return w.main().body.toString().split('\n').find((l) => l.startsWith(id)) ?? '';
}

describe('Assist', { skip }, () => {
  let w: AssistWorld;
  let proj: string;
  let first = '';
  let recorder = '';
  let argvFile = '';

  before(async () => {
    const tmp = fs.mkdtempSync('/tmp/anvillm-term-');
    argvFile = path.join(tmp, 'argv.json');
    recorder = path.join(tmp, 'term.mjs');
    // Written then renamed: the test waits for the file to exist, and must never read half of it.
    fs.writeFileSync(recorder, `import fs from 'node:fs';\nfs.writeFileSync(${JSON.stringify(argvFile + '.tmp')}, JSON.stringify(process.argv.slice(2)));\nfs.renameSync(${JSON.stringify(argvFile + '.tmp')}, ${JSON.stringify(argvFile)});\n`);
    w = await assistWorld({ ANVILLM_TERMINAL: `${process.execPath} ${recorder}` });
    proj = w.world.project('proj');
  });
  after(async () => {
    await w.close();
    fs.rmSync(path.dirname(recorder), { recursive: true, force: true });
  });

  it('opens /AnviLLM/: a clean table, the backends then its commands in the tag', () => {
    const main = w.main();
    assert.match(main.tag.toString(), /^\/AnviLLM\/ Del Snarf \| Look .*\bFake\b.*Open Kill Attach Alias Context Sandbox Get $/);
    assert.match(main.body.toString(), /^ID\s+Backend\s+State\s+PID\s+Alias\s+Cwd\n---/);
    assert.equal(main.dirty, false);
  });

  it('Fake <dir>, typed in the tag and swept with B2, starts a session that the table shows', async () => {
    const main = w.main();
    w.acme.click(main.id, 'tag', main.tag.length, 1);
    await w.acme.type(main.id, 'tag', `Fake ${proj}`);
    w.acme.sweep(main.id, 'tag', `Fake ${proj}`, 2);
    await until(() => w.manager.list().length === 1, 'a session');
    first = w.manager.list()[0]!.id;
    await until(() => / idle /.test(row(w, first)), 'the table to show it idle', 20_000);
    assert.ok(row(w, first).includes(proj));
    // Each update replaces text, which marks the window dirty, then writes `clean`: it ends clean.
    await until(() => !main.dirty, 'the window clean after the update');
  });

  it('Fake with no directory says to give one', async () => {
    const main = w.main();
    w.acme.click(main.id, 'tag', 'Fake', 2);
    await until(() => w.errors.some((e) => /Fake: give a directory/.test(e)), 'the error');
  });

  it('a refused start shows its whole explanation in +Errors, not only the 127 bytes of its Rerror', async () => {
    const policy = path.join(w.env['HOME']!, '.config', 'anvillm', 'sandbox.yaml');
    const before = fs.readFileSync(policy, 'utf8');
    fs.writeFileSync(policy, before.replace('provider: auto', 'provider: landrun')); // strict: refused
    try {
      const main = w.main();
      w.acme.click(main.id, 'tag', main.tag.length, 1);
      await w.acme.type(main.id, 'tag', ` Fake ${proj}`);
      w.acme.sweep(main.id, 'tag', `Fake ${proj}`, 2);
      const whole = /^Fake: no sandbox for fake: set general\.provider: auto; see anvillm sandbox check\nsandbox: no provider can enforce [\s\S]*best_effort/;
      await until(() => w.errors.some((e) => whole.test(e)), 'the whole refusal');
      w.errors.splice(w.errors.findIndex((e) => whole.test(e)), 1); // an error this test asked for
    } finally {
      fs.writeFileSync(policy, before);
    }
  });

  it('an update of the table does not move the user\'s selection, even in the row it changes', async () => {
    const main = w.main();
    const at = main.body.find(proj, main.body.find(first));
    w.acme.select(main.id, 'body', { q0: at, q1: at + [...proj].length });
    const before = { ...main.dot };
    await w.manager.get(first)!.setAlias('first');
    await until(() => / first /.test(row(w, first)), 'the alias in the table');
    assert.deepEqual(main.dot, before);
  });

  it('text typed into the table does not garble the next update', async () => {
    const main = w.main();
    const at = main.body.find(first);
    w.acme.select(main.id, 'body', { q0: at, q1: at });
    await w.acme.type(main.id, 'body', 'typed ');
    await w.manager.get(first)!.setAlias('retyped');
    await until(() => / retyped /.test(row(w, first)), 'the alias in the table');
    assert.match(row(w, first), new RegExp(`^${first} fake\\s+\\S+\\s+\\d+\\s+retyped\\s+${proj.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
    await w.manager.get(first)!.setAlias('first');
    await until(() => / first /.test(row(w, first)), 'the alias back');
  });

  it('B3 on a session id opens its chat window, and shows it when open', async () => {
    const main = w.main();
    w.acme.click(main.id, 'body', first, 3);
    const chat = await w.window(path.join(proj, '+Chat.first'));
    assert.match(chat.tag.toString(), /Send Stop Save Load Alias Attach/);
    w.acme.click(main.id, 'body', first, 3);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(w.acme.names().filter((n) => n.includes('+Chat')).length, 1);
  });

  it('Send sends what is typed at the end; the answer is appended as the turn completes', async () => {
    const chat = w.acme.byName(path.join(proj, '+Chat.first'))!;
    w.acme.click(chat.id, 'body', chat.body.length, 1);
    await w.acme.type(chat.id, 'body', 'hello agent');
    w.acme.click(chat.id, 'tag', 'Send', 2);
    await until(() => chat.body.toString().startsWith('USER: hello agent\n'), 'the prompt in the conversation');
    await until(() => /ASSISTANT: You said: hello agent/.test(chat.body.toString()), 'the answer', 20_000);
    assert.equal(chat.body.toString().match(/USER: hello agent/g)?.length, 1, 'the prompt shows once');
    // What the user types next stays theirs while the conversation grows.
    w.acme.click(chat.id, 'body', chat.body.length, 1);
    await w.acme.type(chat.id, 'body', 'draft');
    await w.manager.get(first)!.prompt('from elsewhere');
    await until(() => /You said: from elsewhere/.test(chat.body.toString()), 'the other turn', 20_000);
    assert.ok(chat.body.toString().endsWith('draft'), JSON.stringify(chat.body.toString()));
  });

  it('a prompt sent while the agent is busy is queued, and the window says so', async () => {
    const chat = w.acme.byName(path.join(proj, '+Chat.first'))!;
    await until(() => / idle /.test(row(w, first)), 'idle');
    const draft = chat.body.find('draft');
    w.acme.select(chat.id, 'body', { q0: draft, q1: draft + 5 });
    await w.acme.type(chat.id, 'body', 'sleep 2');
    w.acme.click(chat.id, 'tag', 'Send', 2);
    await until(() => / running /.test(row(w, first)), 'running');
    w.acme.click(chat.id, 'body', chat.body.length, 1);
    await w.acme.type(chat.id, 'body', 'after that');
    w.acme.click(chat.id, 'tag', 'Send', 2);
    await until(() => /USER: after that\n\(queued/.test(chat.body.toString()), 'the queued notice');
    await until(() => /You said: after that/.test(chat.body.toString()), 'the queued prompt answered', 30_000);
    assert.doesNotMatch(chat.body.toString(), /queued/);
  });

  it('chat Stop interrupts the agent, Save writes the conversation, Load says what went wrong', async () => {
    const chat = w.acme.byName(path.join(proj, '+Chat.first'))!;
    await until(() => / idle /.test(row(w, first)), 'idle', 20_000);
    w.acme.click(chat.id, 'body', chat.body.length, 1);
    await w.acme.type(chat.id, 'body', 'sleep 30');
    w.acme.click(chat.id, 'tag', 'Send', 2);
    await until(() => / running /.test(row(w, first)), 'running');
    // As the session tests do: an Escape that arrives while the prompt is still being pasted is lost.
    await new Promise((r) => setTimeout(r, 400));
    w.acme.click(chat.id, 'tag', 'Stop', 2);
    await until(() => / idle /.test(row(w, first)), 'idle after Stop', 20_000);
    w.acme.click(chat.id, 'tag', chat.tag.length, 1);
    await w.acme.type(chat.id, 'tag', ' Save saved.txt');
    w.acme.sweep(chat.id, 'tag', 'Save saved.txt', 2);
    await until(() => w.errors.some((e) => e.includes(`saved to ${path.join(proj, 'saved.txt')}`)), 'the saved path');
    assert.match(fs.readFileSync(path.join(proj, 'saved.txt'), 'utf8'), /USER: hello agent/);
    w.acme.click(chat.id, 'tag', chat.tag.length, 1);
    await w.acme.type(chat.id, 'tag', ' Load saved.txt');
    w.acme.sweep(chat.id, 'tag', 'Load saved.txt', 2);
    await until(() => w.errors.some((e) => /^Load: .*cannot load/.test(e)), 'the error from Load');
  });

  it('a 2-1 chord of text selected anywhere onto a session id sends it as a prompt', async () => {
    const main = w.main();
    const notes = w.acme.createWindow(path.join(proj, 'notes'));
    notes.body.insert(0, 'please chord this\n');
    w.acme.select(notes.id, 'body', 'please chord this');
    w.acme.chord21(main.id, 'body', first);
    await until(() => fs.existsSync(path.join(proj, 'prompts.log')) && fs.readFileSync(path.join(proj, 'prompts.log'), 'utf8').includes('"please chord this"'), 'the prompt', 20_000);
    assert.equal(w.acme.byName(path.join(proj, '+Chat.first')) !== undefined, true);
  });

  it('a chorded prompt over 256 runes is refused by acme itself ("argument string too long"): nothing is sent', async () => {
    const main = w.main();
    const notes = w.acme.byName(path.join(proj, 'notes'))!;
    const long = `long ${'é'.repeat(400)} end`;
    notes.body.insert(notes.body.length, `${long}\n`);
    w.acme.select(notes.id, 'body', long);
    w.acme.chord21(main.id, 'body', first);
    const errors = w.acme.byName('+Errors')!;
    assert.match(errors.body.toString(), /argument string too long/);
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!fs.readFileSync(path.join(proj, 'prompts.log'), 'utf8').includes('long é'));
  });

  it('2-1 chord of Fake onto a path starts a session there; Alias names it; Open by alias shows its chat', async () => {
    const main = w.main();
    const other = w.world.project('other');
    const notes = w.acme.byName(path.join(proj, 'notes'))!;
    notes.body.insert(notes.body.length, '../other\n');
    w.acme.select(notes.id, 'body', '../other');
    w.acme.chord21(main.id, 'tag', 'Fake');
    await until(() => w.manager.list().some((s) => s.cwd === other), 'a session in ../other', 20_000);
    const id = w.manager.list().find((s) => s.cwd === other)!.id;
    await until(() => row(w, id) !== '', 'its row');
    w.acme.click(main.id, 'tag', main.tag.length, 1);
    await w.acme.type(main.id, 'tag', ` Alias ${id} second`);
    w.acme.sweep(main.id, 'tag', `Alias ${id} second`, 2);
    await until(() => / second /.test(row(w, id)), 'the alias');
    w.acme.click(main.id, 'tag', main.tag.length, 1);
    await w.acme.type(main.id, 'tag', ' Open second');
    w.acme.sweep(main.id, 'tag', 'Open second', 2);
    await w.window(path.join(other, '+Chat.second'));
  });

  it('Alias in a chat window renames the window', async () => {
    const chat = w.acme.byName(path.join(w.world.project('other'), '+Chat.second'))!;
    w.acme.click(chat.id, 'tag', chat.tag.length, 1);
    await w.acme.type(chat.id, 'tag', ' Alias third');
    w.acme.sweep(chat.id, 'tag', 'Alias third', 2);
    await until(() => chat.name.endsWith('+Chat.third'), 'the new name');
  });

  it('Attach opens the terminal with the session\'s attach command, as an argv', async () => {
    const main = w.main();
    w.acme.select(main.id, 'body', first);
    w.acme.chord21(main.id, 'tag', 'Attach');
    // (The stand-in terminal may be caught mid-write: its whole argv is awaited.)
    let argv: string[] = [];
    await until(() => {
      try {
        argv = JSON.parse(fs.readFileSync(argvFile, 'utf8')) as string[];
        return true;
      } catch {
        return false;
      }
    }, 'the terminal');
    assert.equal(argv[0], 'tmux');
    assert.ok(argv.includes('attach-session'));
    assert.ok(argv.some((a) => a.endsWith(`:${first}`) || a.includes(first)), argv.join(' '));
  });

  it('without a terminal, Attach says how to set one', () => {
    assert.throws(() => terminalCommand({ PATH: '/nonexistent', HOME: '/nonexistent' }), { message: NO_TERMINAL });
  });

  it('Context opens /AnviLLM/<id>/context; Put saves it', async () => {
    const main = w.main();
    w.acme.select(main.id, 'body', first);
    w.acme.chord21(main.id, 'tag', 'Context');
    const ctx = await w.window(`/AnviLLM/${first}/context`);
    w.acme.click(ctx.id, 'body', 0, 1);
    await w.acme.type(ctx.id, 'body', 'Answer briefly.');
    w.acme.click(ctx.id, 'tag', 'Put', 2);
    await until(() => w.manager.get(first)!.context === 'Answer briefly.', 'the context saved');
    await until(() => !ctx.dirty, 'clean after Put');
  });

  it('Sandbox opens /AnviLLM/Sandbox: Status appends the check, Edit opens the policy file', async () => {
    const main = w.main();
    w.acme.click(main.id, 'tag', 'Sandbox', 2);
    const sb = await w.window('/AnviLLM/Sandbox');
    assert.match(sb.tag.toString(), /Get Edit Reload Status $/);
    await until(() => /sandbox\.yaml/.test(sb.body.toString()), 'the policy');
    w.acme.click(sb.id, 'tag', 'Status', 2);
    await until(() => /provider:/.test(sb.body.toString()) && /Status \(sandbox check/.test(sb.body.toString()), 'the status', 20_000);
    w.acme.click(sb.id, 'tag', 'Edit', 2);
    const file = path.join(w.env['HOME']!, '.config', 'anvillm', 'sandbox.yaml');
    await until(() => w.acme.byName(file) !== undefined, 'the policy window');
    assert.equal(w.acme.byName(file)!.body.toString(), fs.readFileSync(file, 'utf8'));
    w.acme.click(sb.id, 'tag', 'Reload', 2);
    await until(() => /Reloaded/.test(sb.body.toString()), 'reloaded');
  });

  it('commands and looks that are not Assist\'s go back to acme', async () => {
    const main = w.main();
    const before = w.acme.actions.length;
    w.acme.click(main.id, 'tag', 'Look', 2);
    w.acme.click(main.id, 'body', 'Backend', 3);
    await until(() => w.acme.actions.length >= before + 2, 'acme to act');
    assert.deepEqual(w.acme.actions.slice(before).map((a) => `${a.kind} ${a.text}`), ['execute Look', 'look Backend']);
  });

  it('Kill by pid ends the session; Del on its chat closes the window, not the session', async () => {
    const main = w.main();
    const second = w.manager.list().find((s) => s.alias === 'third')!;
    const chatName = path.join(w.world.project('other'), '+Chat.third');
    const chat = w.acme.byName(chatName)!;
    // An unsent draft: the first Del says so and keeps the window; the second closes it.
    w.acme.click(chat.id, 'body', chat.body.length, 1);
    await w.acme.type(chat.id, 'body', 'a draft');
    w.acme.click(chat.id, 'tag', 'Del', 2);
    await until(() => w.errors.some((e) => /Del: .*not sent; Del again/.test(e)), 'the warning');
    assert.ok(w.acme.byName(chatName));
    w.acme.click(chat.id, 'tag', 'Del', 2);
    await until(() => w.acme.byName(chatName) === undefined, 'the chat window gone');
    assert.equal(w.manager.get(second.id)!.state, 'idle');
    w.acme.click(main.id, 'tag', main.tag.length, 1);
    await w.acme.type(main.id, 'tag', ` Kill ${second.pid}`);
    w.acme.sweep(main.id, 'tag', `Kill ${second.pid}`, 2);
    await until(() => row(w, second.id) === '', 'the killed session to leave the table');
  });

  it('a crash stays in the table as exited; Kill by alias and by id, typed in the tag and swept, removes the row', async () => {
    const main = w.main();
    for (const [alias, by] of [['doomed', 'alias'], ['doomed2', 'id']] as const) {
      const s = await w.manager.create('fake', w.world.project(alias), alias);
      await until(() => row(w, s.id).includes('idle'), `${alias} idle in the table`);
      if (by === 'alias') {
        process.kill(s.pid, 'SIGKILL');
        await until(() => / exited /.test(row(w, s.id)), `${alias}, crashed, exited in the table`);
      }
      const word = by === 'alias' ? alias : s.id;
      w.acme.click(main.id, 'tag', main.tag.length, 1);
      await w.acme.type(main.id, 'tag', ` Kill ${word}`);
      w.acme.sweep(main.id, 'tag', `Kill ${word}`, 2);
      await until(() => row(w, s.id) === '', `${alias} gone from the table`);
    }
  });

  it('a second Assist shows the open /AnviLLM/ and exits', async () => {
    const windows = w.acme.names().length;
    const code = await runAssist({ env: w.env, cwd: w.cwd, stderr: (l) => w.errors.push(l), startDaemon: false });
    assert.equal(code, 0);
    assert.equal(w.acme.names().length, windows);
  });

  it('exits when acme does; the daemon and its sessions keep running', async () => {
    w.acme.close();
    assert.equal(await w.exited, 0);
    assert.notEqual(w.manager.get(first)!.state, 'exited');
    assert.deepEqual(w.errors.filter((e) => !/give a directory|saved to|^Load: |not sent; Del again/.test(e)), []);
  });
});
