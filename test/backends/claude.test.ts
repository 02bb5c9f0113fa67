/**
 * The REAL Claude Code (the pinned @anthropic-ai/claude-code devDependency) in real tmux, inside
 * bubblewrap, talking to a mock of the Messages API on 127.0.0.1 (test/fixtures/mock-anthropic.ts).
 * Each world is a fresh HOME, so every start goes through Claude Code's first-run dialogs.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { projectDir, transcriptFile } from '../../src/backends/claude-transcript.js';
import type { SessionManager } from '../../src/session/manager.js';
import type { Session } from '../../src/session/session.js';
import type { SessionEvent, State } from '../../src/session/types.js';
import { claudeProgram, claudeWorld, type ClaudeWorld } from '../fixtures/claude-env.js';
import { lastPrompt } from '../fixtures/mock-anthropic.js';
import { alive, needs, until } from '../helpers.js';

const skip = needs('tmux', 'bwrap') || (claudeProgram() ? false : 'Claude Code is not installed: npm ci installs the pinned devDependency');

const T = 60_000;

describe('Claude Code, for real, against a mock API', { skip, timeout: 240_000 }, () => {
  let world: ClaudeWorld;
  let manager: SessionManager;
  const events: SessionEvent[] = [];
  const states = (id: string): State[] => events.flatMap((e) => (e.id === id && e.kind === 'state' ? [e.to] : []));
  const inState = (s: Session, state: State) => until(() => s.state === state, () => `${s.id} to be ${state} (it is ${s.state}; err: ${s.err()})`, T);

  before(async () => {
    world = await claudeWorld();
    manager = world.manager;
    manager.subscribe((e) => events.push(e));
  });

  after(async () => {
    await world?.close();
  });

  let s: Session;

  it('starts through every first-run dialog and becomes idle at the input box', async () => {
    s = await manager.create('claude', world.project('proj'), 'cc');
    await inState(s, 'idle');
    const screen = await s.screen();
    assert.match(screen, /bypass permissions on/);
    assert.doesNotMatch(screen, /trust this folder|Choose the text style/);
    assert.deepEqual(states(s.id), ['idle']);
  });

  it('a prompt: running at once, idle when Claude Code stops, out exactly the answer', async () => {
    const from = events.length;
    s.prompt('hello there');
    assert.equal(s.state, 'running');
    await inState(s, 'idle');
    assert.equal(s.out(), 'Echo: hello there');
    assert.match(s.transcript(), /^USER: hello there\n\nASSISTANT: Echo: hello there\n\n$/);
    const mine = events.slice(from).filter((e) => e.id === s.id);
    assert.deepEqual(mine.map((e) => (e.kind === 'state' ? e.to : e.kind)), ['running', 'out', 'idle']);
  });

  it('a multi-line prompt arrives as one submission; a 10 kB one byte-exact', async () => {
    s.prompt('first line\nsecond line\n\tthird, indented');
    await inState(s, 'idle');
    assert.equal(s.out(), 'Echo: first line');
    const body = await world.mock.waitFor('second line');
    // Claude Code's input box turns a tab into four spaces.
    assert.equal(lastPrompt(body), 'first line\nsecond line\n    third, indented');

    const big = Array.from({ length: 200 }, (_, i) => `line ${i}: $(rm -rf ~) \`x\` 'q' "d" \\ ; | & < > * ? [ ] { } # ~ % ^ ü — 日本`).join('\n');
    assert.ok(big.length > 10_000);
    s.prompt(big);
    await inState(s, 'idle');
    assert.equal(s.out(), `Echo: ${big.split('\n')[0]}`);
    const got = await world.mock.waitFor('line 199:');
    const sent = got.messages[got.messages.length - 1]!;
    assert.ok(JSON.stringify(sent.content).includes(JSON.stringify(big).slice(1, -1)), 'the 10 kB prompt arrived byte-exact');
  });

  it('prompts sent while it works are queued and answered in order', async () => {
    s.prompt('queued one');
    s.prompt('queued two');
    assert.equal(s.queued, 1);
    await until(() => s.out() === 'Echo: queued two' && s.state === 'idle', 'both answered', T);
    const prompts = world.mock.prompts();
    assert.ok(prompts.indexOf('queued one') < prompts.indexOf('queued two'));
    assert.match(s.transcript(), /USER: queued one\n\nASSISTANT: Echo: queued one\n\nUSER: queued two\n\nASSISTANT: Echo: queued two\n\n$/);
  });

  it('a tool turn goes running → idle, with the tool call in the transcript', async () => {
    const from = events.length;
    s.prompt('use a TOOL please');
    await until(() => events.slice(from).some((e) => e.id === s.id && e.kind === 'out'), 'the tool turn to end', T);
    assert.equal(s.state, 'idle');
    assert.equal(s.out(), 'Tool said: tool-ran');
    assert.match(s.transcript(), /USER: use a TOOL please\n\nASSISTANT: \n {2}\[tool\] Bash: echo tool-ran\nTool said: tool-ran\n\n$/);
  });

  it('stop interrupts a slow answer: idle again, with what had arrived', async () => {
    s.prompt('be SLOW');
    await world.mock.waitFor('be SLOW');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(s.state, 'running');
    await s.stop();
    await inState(s, 'idle');
    assert.match(s.out(), /^(slow ?)+$/);
    assert.match(await s.screen(), /Interrupted/);
  });

  it('an API error ends the turn with the error as the answer; the next prompt works', async () => {
    s.prompt('please FAIL');
    await until(() => s.out().startsWith('API Error') && s.state === 'idle', 'the error turn to end', T);
    assert.equal(s.out(), 'API Error: 400 mock failure');
    s.prompt('then fine');
    await until(() => s.out() === 'Echo: then fine' && s.state === 'idle', 'the next answer', T);
  });

  it('Save writes the transcript and the raw .jsonl; Load in a new session continues that conversation', async () => {
    const file = await s.save('saved.txt');
    assert.equal(file, path.join(s.cwd, 'saved.txt'));
    assert.equal(fs.readFileSync(file, 'utf8'), s.transcript());
    const raw = path.join(s.cwd, 'saved.jsonl');
    assert.ok(fs.readFileSync(raw, 'utf8').includes('queued two'));

    const t = await manager.create('claude', world.project('other'));
    await inState(t, 'idle');
    await t.load(raw);
    await inState(t, 'idle');
    t.prompt('after the load');
    await inState(t, 'idle');
    assert.equal(t.out(), 'Echo: after the load');
    const body = await world.mock.waitFor('after the load');
    const history = JSON.stringify(body.messages);
    assert.ok(history.includes('queued two') && history.includes('Echo: hello there'), 'the old conversation went with the prompt');
    await t.kill();
  });

  it('slash commands: /clear starts afresh (and is followed there); others need the terminal', async () => {
    assert.throws(() => s.prompt('/model opus'), /\/model needs the terminal: use Attach/);
    s.prompt('/clear');
    await inState(s, 'idle');
    assert.equal(s.out(), '');
    s.prompt('after clear');
    await inState(s, 'idle');
    assert.equal(s.out(), 'Echo: after clear');
    const body = await world.mock.waitFor('after clear');
    assert.ok(!JSON.stringify(body.messages).includes('queued two'), 'the history was cleared');
    assert.match(s.transcript(), /USER: \/clear\n\nASSISTANT: \n\nUSER: after clear\n\nASSISTANT: Echo: after clear\n\n$/);
  });

  it('kill ends the agent and its window', async () => {
    const pid = s.pid;
    await s.kill();
    assert.equal(s.state, 'exited');
    await until(() => !alive(pid), 'the agent to be gone');
  });

  it('without bypass, a permission dialog makes it waiting; answering runs the tool', async () => {
    const ask = await manager.create('claude-ask', world.project('ask'));
    await inState(ask, 'idle');
    const from = events.length;
    ask.prompt('RUN: touch made-by-tool');
    await inState(ask, 'waiting');
    let screen = '';
    await until(() => /Do you want to proceed\?/.test(screen), 'the permission dialog', T, async () => (screen = await ask.screen()));
    await manager.tmux.sendKeys(ask.tmuxSession, ask.paneId, ['1']);
    await inState(ask, 'idle');
    assert.ok(fs.existsSync(path.join(ask.cwd, 'made-by-tool')));
    const seq = events.slice(from).flatMap((e) => (e.id === ask.id && e.kind === 'state' ? [e.to] : []));
    assert.deepEqual(seq, ['running', 'waiting', 'running', 'idle']);
    await ask.kill();
  });

  it('the agent crashing: exited, with its status and last screen in err', async () => {
    const c = await manager.create('claude', world.project('crash'));
    await inState(c, 'idle');
    c.prompt('/compact'); // a slash command fires no hooks: the screen says when it is done
    await inState(c, 'idle');
    assert.equal(c.out(), 'Not enough messages to compact.');
    process.kill(c.pid, 'SIGKILL');
    await inState(c, 'exited');
    assert.match(c.err(), /the agent exited with status/);
  });

  it('a daemon restart mid-turn: the next daemon has the conversation back and sees the turn end', async () => {
    const r = await manager.create('claude', world.project('restart'), 'survivor');
    await inState(r, 'idle');
    r.prompt('before the restart');
    await inState(r, 'idle');
    r.prompt('a SLOW one');
    await world.mock.waitFor('a SLOW one');
    // Claude Code writes its record in batches, behind its hooks (seen 300+ ms behind under load):
    // the next daemon reads what it holds.
    await until(() => fs.readFileSync(recordOf(r), 'utf8').includes('Echo: before the restart'), 'Claude Code to record the first turn', T);
    const first = manager;
    // The old daemon goes (its tmux client detaches, the agent runs on); a new one adopts.
    await first.close();
    const next = world.world.manager();
    world.manager = manager = next;
    next.subscribe((e) => events.push(e));
    {
      await next.adopt();
      const again = next.get('survivor')!;
      assert.equal(again.id, r.id);
      assert.equal(again.state, 'running');
      assert.equal(again.out(), 'Echo: before the restart', `transcript ${JSON.stringify(again.transcript())}, err ${again.err()}, record ${JSON.stringify(again.record())}`);
      assert.match(again.transcript(), /^USER: before the restart\n\nASSISTANT: Echo: before the restart\n\n$/);
      await again.stop();
      await inState(again, 'idle');
      assert.match(again.out(), /^(slow ?)+$/);
      assert.match(again.transcript(), /USER: a SLOW one\n\nASSISTANT: slow/);
      again.prompt('after the restart');
      await until(() => again.out() === 'Echo: after the restart', 'the next answer', T);
      await again.kill();
    }
  });

  /** Claude Code's own record of `r`'s conversation (the one file in its project directory). */
  const recordOf = (r: Session): string => {
    const dir = projectDir(path.join(world.home, '.claude'), r.cwd);
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
    assert.equal(files.length, 1, `one transcript in ${dir}: ${files.join(' ')}`);
    return path.join(dir, files[0]!);
  };

  /** The machine goes down under an idle session: no daemon, then its window gone; a new daemon comes. */
  const reboot = async (r: Session): Promise<Session> => {
    await manager.close();
    execFileSync('tmux', ['-S', world.world.env['ANVILLM_TMUX_SOCKET']!, 'kill-window', '-t', r.windowId]);
    const next = world.world.manager();
    world.manager = manager = next;
    next.subscribe((e) => events.push(e));
    await next.adopt();
    const again = next.get(r.id)!;
    assert.deepEqual([again.id, again.state, again.cwd, again.pid], [r.id, 'exited', r.cwd, 0]);
    return again;
  };

  it('its window gone while no daemon ran (as at a reboot): the next daemon keeps it as exited, and restart continues its conversation', async () => {
    const r = await manager.create('claude', world.project('reboot'), 'rebooted');
    await inState(r, 'idle');
    r.prompt('before the reboot');
    await inState(r, 'idle');
    // The turn ends at Claude Code's Stop hook; its record follows ~100 ms later (a machine that
    // dies in between loses the turn from Claude Code's own record: the next test).
    await until(() => fs.readFileSync(recordOf(r), 'utf8').includes('Echo: before the reboot'), 'Claude Code to record the turn', T);
    const again = await reboot(r);
    await again.restart();
    await inState(again, 'idle');
    again.prompt('after the reboot');
    await inState(again, 'idle');
    assert.equal(again.out(), 'Echo: after the reboot');
    const body = await world.mock.waitFor('after the reboot');
    assert.ok(JSON.stringify(body.messages).includes('before the reboot'), 'the old conversation went with the prompt');
    await again.kill();
  });

  it('a record Claude Code never wrote a message to: restart starts a fresh conversation instead of failing', async () => {
    const r = await manager.create('claude', world.project('unflushed'), 'unflushed');
    await inState(r, 'idle');
    r.prompt('never recorded');
    await inState(r, 'idle');
    const record = recordOf(r);
    const again = await reboot(r);
    // What a Claude Code killed before it flushed the turn leaves: a title, no message (measured).
    const sessionId = path.basename(record, '.jsonl');
    fs.writeFileSync(record, `${JSON.stringify({ type: 'ai-title', aiTitle: 'Test session', sessionId })}\n`);
    await again.restart();
    await inState(again, 'idle');
    again.prompt('a fresh start');
    await inState(again, 'idle');
    assert.equal(again.out(), 'Echo: a fresh start');
    const body = await world.mock.waitFor('a fresh start');
    assert.ok(!JSON.stringify(body.messages).includes('never recorded'));
    await again.kill();
  });

  it('its transcript lives where Claude Code keeps it, under the uuid we chose', () => {
    const dir = path.join(world.home, '.claude', 'projects');
    const files = fs.readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.jsonl'));
    assert.ok(files.length >= 3);
    assert.ok(transcriptFile(path.join(world.home, '.claude'), '/a b/c', 'u').endsWith('/projects/-a-b-c/u.jsonl'));
  });
});
