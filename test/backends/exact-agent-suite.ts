/**
 * The rules every built-in agent with hooks and a record of its own follows (issue 14), run
 * against the REAL Codex and Gemini CLIs by codex-suite.ts and gemini-suite.ts: state from the
 * agent's hooks, `out` and `transcript` from its record, Save and Load through it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';

import type { SessionManager } from '../../src/session/manager.js';
import type { Session } from '../../src/session/session.js';
import type { SessionEvent, State } from '../../src/session/types.js';
import { linesAnswer } from '../fixtures/mock-models.js';
import type { RealAgentWorld } from '../fixtures/real-agents.js';
import { until } from '../helpers.js';

export interface ExactAgent {
  backend: 'codex' | 'gemini';
  world: () => RealAgentWorld;
  manager: () => SessionManager;
  /** A new manager in place of the current one (a daemon restart); `manager()` returns it from then on. */
  restart: () => SessionManager;
  /** The name its shell tool has in the transcript. */
  tool: string;
  /** backends.yaml lines of a variant `<backend>-ask` that asks before running a tool. */
  askVariant: string;
  /** tmux keys that allow the tool once, once the question is on the screen. */
  allowKeys: string[];
  question: RegExp;
}

/**
 * Registers the tests; `session()` is a started, idle session of the backend, used in order
 * (`adopted` gets its successor after the daemon restart).
 */
export function exactAgentTests(a: ExactAgent, session: () => Session, adopted: (s: Session) => void): void {
  const events: SessionEvent[] = [];
  const states = (s: Session, from: number): (State | string)[] =>
    events.slice(from).flatMap((e) => (e.id === s.id ? [e.kind === 'state' ? e.to : e.kind] : []));
  const inState = (s: Session, state: State, ms = 60_000) => until(() => s.state === state, () => `${s.id} to be ${state} (it is ${s.state}; err: ${s.err()})`, ms);
  const turn = async (s: Session, prompt: string) => {
    const from = events.length;
    s.prompt(prompt);
    assert.equal(s.state, 'running', 'running at once');
    await inState(s, 'idle');
    return states(s, from);
  };

  it('a prompt: running at once, idle when the agent says its turn ended, out exactly the answer', async () => {
    a.manager().subscribe((e) => events.push(e));
    const s = session();
    assert.deepEqual(await turn(s, `hello ${a.backend}`), ['running', 'out', 'idle']);
    assert.equal(s.out(), `Echo: hello ${a.backend}`);
    assert.equal(s.transcript(), `USER: hello ${a.backend}\n\nASSISTANT: Echo: hello ${a.backend}\n\n`);
  });

  it('a multi-line prompt is one prompt', async () => {
    await turn(session(), 'first line\nsecond line');
    assert.equal(session().out(), 'Echo: first line\nsecond line');
  });

  it('a 120-line answer is in out exactly, from its first line to its last', async () => {
    await turn(session(), 'lines 120');
    assert.equal(session().out(), linesAnswer(120));
  });

  it('a tool turn: its call in the transcript, the answer after it in out', async () => {
    const s = session();
    await turn(s, 'run echo hi; sleep 1; echo there');
    assert.equal(s.out(), 'Ran: echo hi; sleep 1; echo there');
    assert.ok(s.transcript().endsWith(`USER: run echo hi; sleep 1; echo there\n\nASSISTANT: \n  [tool] ${a.tool}: echo hi; sleep 1; echo there\nRan: echo hi; sleep 1; echo there\n\n`), s.transcript());
  });

  it('a tool that runs silently for longer than any quiet time keeps it running, then idle once', async () => {
    const s = session();
    const from = events.length;
    s.prompt('run sleep 4');
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(s.state, 'running');
    await inState(s, 'idle');
    assert.deepEqual(states(s, from), ['running', 'out', 'idle']);
    assert.equal(s.out(), 'Ran: sleep 4');
  });

  it('a model that sends nothing for seconds keeps it running', async () => {
    const s = session();
    s.prompt('sleep 3');
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(s.state, 'running');
    await inState(s, 'idle');
    assert.equal(s.out(), 'Slept 3 seconds.');
  });

  it('stop interrupts a running tool: idle, and the next turn is answered as usual', async () => {
    const s = session();
    s.prompt('run sleep 30');
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(s.state, 'running');
    await s.stop();
    await inState(s, 'idle', 10_000);
    assert.deepEqual(await turn(s, 'after the interrupt'), ['running', 'out', 'idle']);
    assert.equal(s.out(), 'Echo: after the interrupt');
  });

  it('Save writes the transcript and the raw record; Load continues that conversation', async () => {
    const s = session();
    const file = await s.save('talk.txt');
    assert.match(fs.readFileSync(file, 'utf8'), new RegExp(`^USER: hello ${a.backend}\n\nASSISTANT: Echo: hello ${a.backend}\n\n`));
    assert.ok(fs.statSync(file.replace(/\.txt$/, '.jsonl')).size > 0);
    await s.load('talk.txt');
    await inState(s, 'idle');
    const asked = a.world().models.requests.length;
    await turn(s, 'what did I say first?');
    assert.equal(s.out(), 'Echo: what did I say first?');
    const body = JSON.stringify(a.world().models.requests.slice(asked).map((r) => r.body));
    assert.match(body, new RegExp(`hello ${a.backend}`), 'the model was sent the loaded conversation');
    await assert.rejects(s.load('nothing-here.txt'), /nothing-here\.jsonl cannot be read: Load takes a file written by Save/);
  });

  it('a daemon restart mid-turn: the next daemon has the conversation back, running, and sees the turn end', async () => {
    const s = session();
    const before = s.transcript();
    const asked = a.world().models.prompts.length;
    s.prompt('sleep 4');
    // Once the model is asked, the agent has recorded the prompt.
    await until(() => a.world().models.prompts.slice(asked).includes('sleep 4'), 'the model to be asked', 30_000);
    // The old daemon goes (its tmux client detaches, the agent runs on); a new one adopts.
    const first = a.manager();
    first.close();
    const next = a.restart();
    next.subscribe((e) => events.push(e));
    await next.adopt();
    const again = next.get(s.id)!;
    adopted(again);
    assert.equal(again.state, 'running');
    assert.equal(again.transcript(), before);
    await inState(again, 'idle');
    assert.equal(again.out(), 'Slept 4 seconds.');
    assert.ok(again.transcript().endsWith('USER: sleep 4\n\nASSISTANT: Slept 4 seconds.\n\n'), again.transcript());
  });

  /** The machine goes down under an idle session: no daemon, then its window gone; a new daemon comes. */
  const reboot = async (s: Session): Promise<Session> => {
    a.manager().close();
    execFileSync('tmux', ['-S', a.world().env['ANVILLM_TMUX_SOCKET']!, 'kill-window', '-t', s.windowId]);
    const next = a.restart();
    next.subscribe((e) => events.push(e));
    await next.adopt();
    // The suite's main session, adopted too, goes on in the next tests (absent when run alone).
    const main = next.get((session() as Session | undefined)?.id ?? '');
    if (main) adopted(main);
    const again = next.get(s.id)!;
    assert.deepEqual([again.state, again.cwd, again.pid], ['exited', s.cwd, 0]);
    return again;
  };

  it('its window gone while no daemon ran (as at a reboot): the next daemon keeps it as exited, and restart continues its conversation', async () => {
    const s = await a.manager().create(a.backend, a.world().project(`${a.backend}-reboot`));
    await inState(s, 'idle');
    await turn(s, 'before the reboot');
    // The turn ends at the agent's hook; its record can follow later (a machine that dies in
    // between loses the turn from the agent's own record, and so from what it resumes).
    let raw = '';
    const save = async () => (raw = fs.readFileSync((await s.save('reboot.txt')).replace(/\.txt$/, '.jsonl'), 'utf8'));
    await until(() => raw.includes('Echo: before the reboot'), 'the agent to record the turn', 30_000, save);
    const again = await reboot(s);
    await again.restart();
    await inState(again, 'idle');
    const asked = a.world().models.requests.length;
    assert.deepEqual(await turn(again, 'after the reboot'), ['running', 'out', 'idle']);
    assert.equal(again.out(), 'Echo: after the reboot');
    const body = JSON.stringify(a.world().models.requests.slice(asked).map((r) => r.body));
    assert.match(body, /before the reboot/, 'the model was sent the old conversation');
    await again.kill();
  });

  it('gone at a reboot before its first prompt: restart starts it afresh (there is nothing to resume)', async () => {
    const s = await a.manager().create(a.backend, a.world().project(`${a.backend}-reboot-fresh`));
    await inState(s, 'idle');
    const again = await reboot(s);
    await again.restart();
    await inState(again, 'idle');
    assert.deepEqual(await turn(again, 'a first prompt'), ['running', 'out', 'idle']);
    assert.equal(again.out(), 'Echo: a first prompt');
    await again.kill();
  });

  it('without bypass, a tool waiting for permission is waiting; allowed, it runs and the turn ends', async () => {
    const yaml = path.join(a.world().home, '.config', 'anvillm', 'backends.yaml');
    fs.appendFileSync(yaml, a.askVariant);
    const s = await a.manager().create(`${a.backend}-ask`, a.world().project(`${a.backend}-ask`));
    await inState(s, 'idle');
    const from = events.length;
    s.prompt('ask touch made-by-tool');
    await inState(s, 'waiting', 30_000);
    let screen = '';
    await until(() => a.question.test(screen), 'the question on the screen', 10_000, async () => (screen = await s.screen()));
    // Keys typed the moment the question is drawn can be lost (measured with Codex): a human's pace.
    await new Promise((r) => setTimeout(r, 500));
    await a.manager().tmux.sendKeys(s.tmuxSession, s.paneId, a.allowKeys);
    await inState(s, 'idle');
    assert.deepEqual(states(s, from), ['running', 'waiting', 'running', 'out', 'idle']);
    assert.equal(s.out(), 'Ran: touch made-by-tool');
    assert.ok(fs.existsSync(path.join(s.cwd, 'made-by-tool')));
    await s.kill();
  });

  it('the agent crashing: exited, with its status', async () => {
    const s = await a.manager().create(a.backend, a.world().project(`${a.backend}-crash`));
    await inState(s, 'idle');
    const from = events.length;
    process.kill(s.pid, 'SIGKILL');
    await inState(s, 'exited', 10_000);
    // The end is announced once the agent's processes are gone.
    await until(() => states(s, from).includes('exit'), () => `the exit event (${JSON.stringify(states(s, from))})`, 10_000);
    await s.kill();
  });
}
