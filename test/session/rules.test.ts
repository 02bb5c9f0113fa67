/**
 * The session's rules, one table line each: a phase, what happens, what follows. The transition
 * function is pure (no tmux, no clock), so every rule the end-to-end tests can only hit by luck of
 * timing — a dropped Enter, a stale hint, a record lagging its hook, a crash mid-turn — is here.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { defaults, type BackendDefinition } from '../../src/backends/definition.js';
import type { Hint, Turn } from '../../src/backends/driver.js';
import { stateOf, type ActiveTurn, type Effect, type Input, type Machine, type Phase, type Wake } from '../../src/session/phase.js';
import { step, Timing, type Rules } from '../../src/session/rules.js';

const NOW = 1_000_000;
const QUIET = 400;

function backend(patch: Partial<BackendDefinition> = {}): BackendDefinition {
  const d = defaults('agent');
  return { ...d, startup: { ...d.startup, dialogs: [{ match: /Trust this folder\?/, keys: ['Enter'] }], ready: /^> $/m }, ...patch };
}

const rulesFor = (driver: Rules['driver'], patch?: Partial<BackendDefinition>): Rules => ({ def: backend(patch), driver });
const NONE = rulesFor('none');
const TURNS = rulesFor('turns');
const HINTS = rulesFor('hints');

function turn(prompt: string | null = 'hello', patch: Partial<ActiveTurn> = {}): ActiveTurn {
  return { prompt, confirmedAt: null, byScreen: false, asking: false, printed: '', taken: [], ...patch };
}

function machine(phase: Phase, patch: Partial<Machine> = {}): Machine {
  return { phase, queue: [], hooks: 'unknown', lastOutputAt: NOW - 10_000, promptedAt: NOW - 1000, baseline: 0, tickets: 7, unchecked: null, early: [], ...patch };
}

const confirmed = turn('hello', { confirmedAt: NOW - 900 });
const starting: Phase = { kind: 'starting', deadline: NOW + 30_000, answered: [], wake: { at: NOW } };
const working = (t = confirmed, wake: Wake = null): Phase => ({ kind: 'working', turn: t, wake });

function go(rules: Rules, m: Machine, ...inputs: Input[]): { m: Machine; effects: Effect[] } {
  const effects: Effect[] = [];
  for (const input of inputs) {
    const r = step(m, input, NOW, rules);
    m = r.machine;
    effects.push(...r.effects);
  }
  return { m, effects };
}

const kinds = (effects: Effect[]) => effects.map((e) => (e.kind === 'state' ? `state ${e.to}` : e.kind));
const hint = (h: Hint): Input => ({ kind: 'hint', hint: h });
const tick: Input = { kind: 'tick' };
const record = (prompt: string, ...texts: string[]): Turn => ({ prompt, parts: texts.map((text) => ({ kind: 'text', text })) });

describe('session rules', () => {
  describe('starting', () => {
    it('looks at the screen when its timer fires', () => {
      const { m, effects } = go(NONE, machine(starting), tick);
      assert.deepEqual(effects, [{ kind: 'look', ticket: 8, screen: true }]);
      assert.deepEqual(m.phase.kind === 'starting' && m.phase.wake, { ticket: 8 });
    });

    const cases: [string, string, number, string[], string][] = [
      ['a startup dialog is answered', 'Trust this folder?', NOW - 10_000, ['keys'], 'starting'],
      ['a dialog drawn a moment ago: answered once the screen is still', 'Trust this folder?', NOW - 20, [], 'starting'],
      ['ready and quiet: idle, recorded, what the driver recorded before is no answer', '> ', NOW - 10_000, ['state idle', 'persist', 'discardTurns'], 'idle'],
      ['ready but not quiet: looks again later', '> ', NOW - 100, [], 'starting'],
      ['quiet but not ready: looks again later', 'loading', NOW - 10_000, [], 'starting'],
    ];
    for (const [rule, screen, lastOutputAt, effects, phase] of cases) {
      it(rule, () => {
        const r = go(NONE, machine({ ...starting, wake: { ticket: 8 } } as Phase, { lastOutputAt }), { kind: 'looked', ticket: 8, children: 2, screen });
        assert.deepEqual(kinds(r.effects), effects);
        assert.equal(r.m.phase.kind, phase);
      });
    }

    it('each dialog is answered once', () => {
      const answered: Phase = { ...starting, answered: [0], wake: { ticket: 8 } } as Phase;
      const r = go(NONE, machine(answered), { kind: 'looked', ticket: 8, children: 0, screen: 'Trust this folder?' });
      assert.deepEqual(kinds(r.effects), []);
    });

    it('idle with the agent’s child processes as its baseline, and the first queued prompt goes', () => {
      const r = go(NONE, machine({ ...starting, wake: { ticket: 8 } } as Phase, { queue: ['first'] }), { kind: 'looked', ticket: 8, children: 3, screen: '> ' });
      assert.equal(r.m.baseline, 3);
      assert.deepEqual(kinds(r.effects), ['state idle', 'persist', 'discardTurns', 'state running', 'submit']);
    });

    it('past its deadline: error, with the screen in err, through the one end', () => {
      const late = { ...starting, deadline: NOW - 1, wake: { ticket: 8 } } as Phase;
      const r = go(TURNS, machine(late), { kind: 'looked', ticket: 8, children: 0, screen: 'still loading' });
      assert.deepEqual(r.effects, [
        { kind: 'error', text: 'the agent did not become ready within 30 s; its screen:\nstill loading' },
        { kind: 'end', cause: { kind: 'startTimeout' }, from: 'starting', announce: true },
      ]);
      assert.equal(stateOf(r.m.phase), 'error');
    });

    it('an answer to an earlier look (a ticket not awaited) changes nothing', () => {
      const r = go(NONE, machine({ ...starting, wake: { ticket: 8 } } as Phase), { kind: 'looked', ticket: 5, children: 0, screen: '> ' });
      assert.deepEqual(r.effects, []);
      assert.equal(r.m.phase.kind, 'starting');
    });

    it('hints are not listened to while the agent starts', () => {
      assert.deepEqual(go(TURNS, machine(starting), hint({ kind: 'running', at: NOW })).effects, []);
    });
  });

  describe('sending a prompt', () => {
    it('idle: the prompt is pasted and submitted at once, running', () => {
      const r = go(NONE, machine({ kind: 'idle' }), { kind: 'prompt', text: 'hi' });
      assert.deepEqual(r.effects, [{ kind: 'state', from: 'idle', to: 'running' }, { kind: 'submit', ticket: 8, text: 'hi' }]);
      assert.equal(r.m.promptedAt, NOW);
    });

    it('busy: prompts queue, in order', () => {
      const r = go(NONE, machine(working()), { kind: 'prompt', text: 'a' }, { kind: 'prompt', text: 'b' });
      assert.deepEqual(r.m.queue, ['a', 'b']);
      assert.deepEqual(r.effects, []);
    });

    it('stop drops the queue', () => {
      assert.deepEqual(go(NONE, machine(working(), { queue: ['a'] }), { kind: 'stop' }).m.queue, []);
    });

    // After the paste and Enter: [rules, prompt, confirmed while sending?, next phase, its wake]
    const cases: [string, Rules, string, number | null, string, number | null][] = [
      ['no driver: the screen judges, a quiet time on', NONE, 'hi', null, 'working', NOW + QUIET],
      ['a driver: its hooks are to confirm within 2 s', TURNS, 'hi', null, 'confirming', NOW + Timing.enterRetryMs],
      ['a hints-only driver: within 3 s', HINTS, 'hi', null, 'confirming', NOW + Timing.hookWaitMs],
      ['confirmed while still sending: working', TURNS, 'hi', NOW - 1, 'working', null],
      ['a slash command fires no hooks: the screen judges', TURNS, '/clear', null, 'working', NOW + QUIET],
    ];
    for (const [rule, rules, prompt, confirmedAt, phase, at] of cases) {
      it(rule, () => {
        const sending: Phase = { kind: 'sending', turn: turn(prompt, { confirmedAt, byScreen: rules.driver === 'none' || prompt.startsWith('/') }), wake: { ticket: 8 } };
        const r = go(rules, machine(sending), { kind: 'sent', ticket: 8 });
        assert.equal(r.m.phase.kind, phase);
        assert.deepEqual('wake' in r.m.phase && r.m.phase.wake, at === null ? null : { at });
      });
    }

    it('a slash command with a driver starts on the screen', () => {
      const r = go(TURNS, machine({ kind: 'idle' }), { kind: 'prompt', text: '/clear' });
      assert.equal(r.m.phase.kind === 'sending' && r.m.phase.turn.byScreen, true);
    });
  });

  describe('confirming the prompt was taken', () => {
    const confirming = (enters: number): Phase => ({ kind: 'confirming', turn: turn(), enters, wake: { at: NOW } });

    it('unconfirmed: Enter again (an Enter can be dropped)', () => {
      const r = go(TURNS, machine(confirming(1)), tick);
      assert.deepEqual(r.effects, [{ kind: 'keys', keys: ['Enter'] }]);
      assert.deepEqual(r.m.phase, { ...confirming(2), wake: { at: NOW + Timing.enterRetryMs } });
    });

    it('after three Enters: said in err, and this turn is judged from the screen', () => {
      const r = go(TURNS, machine(confirming(3)), tick);
      assert.deepEqual(kinds(r.effects), ['error']);
      assert.deepEqual(r.m.phase.kind === 'working' && [r.m.phase.turn.byScreen, r.m.phase.wake], [true, { at: NOW + QUIET }]);
    });

    it('a hints-only driver gets no second Enter: its hooks are missed, said once, and the screen judges', () => {
      const r = go(HINTS, machine(confirming(1)), tick);
      assert.deepEqual(kinds(r.effects), ['error']);
      assert.equal(r.m.hooks, 'missed');
      assert.deepEqual(r.m.phase.kind === 'working' && r.m.phase.turn.byScreen, true);
      const again = go(HINTS, { ...r.m, phase: confirming(1) }, tick);
      assert.deepEqual(kinds(again.effects), [], 'said once');
    });

    it('hooks missed and never heard: the next turn starts on the screen; once heard, on the hooks again', () => {
      const missed = go(HINTS, machine({ kind: 'idle' }, { hooks: 'missed' }), { kind: 'prompt', text: 'x' });
      assert.equal(missed.m.phase.kind === 'sending' && missed.m.phase.turn.byScreen, true);
      const heard = go(HINTS, machine({ kind: 'idle' }, { hooks: 'heard' }), { kind: 'prompt', text: 'x' });
      assert.equal(heard.m.phase.kind === 'sending' && heard.m.phase.turn.byScreen, false);
    });

    const confirms: [string, Hint][] = [
      ['its submitted hint', { kind: 'submitted', at: NOW }],
      ['a tool starting (or the status file turning busy)', { kind: 'running', at: NOW }],
    ];
    for (const [rule, h] of confirms) {
      it(`${rule} confirms it: working, no timer, its hooks heard`, () => {
        const r = go(HINTS, machine(confirming(1)), hint(h));
        assert.deepEqual(r.m.phase, { kind: 'working', turn: turn('hello', { confirmedAt: NOW }), wake: null });
        assert.equal(r.m.hooks, 'heard');
      });
    }
  });

  describe('stale hints', () => {
    const drops: [string, Phase, Hint][] = [
      ['older than the prompt', working(), { kind: 'idle', at: NOW - 2000, answer: 'old' }],
      ['an idle before the prompt was taken', { kind: 'confirming', turn: turn(), enters: 1, wake: { at: NOW + 1 } }, { kind: 'idle', at: NOW }],
      ['a waiting before the prompt was taken', { kind: 'confirming', turn: turn(), enters: 1, wake: { at: NOW + 1 } }, { kind: 'waiting', at: NOW, why: 'permission' }],
      ['an idle older than the taking (the status file lags the Stop hook)', working(), { kind: 'idle', at: NOW - 950 }],
      ['an idle while the turn is over already (settling)', { kind: 'settling', turn: confirmed, deadline: NOW + 1, wake: { at: NOW + 1 } }, { kind: 'idle', at: NOW }],
    ];
    for (const [rule, phase, h] of drops) {
      it(`are dropped: ${rule}`, () => {
        const r = go(TURNS, machine(phase), hint(h));
        assert.deepEqual(r.effects, []);
        assert.deepEqual(r.m.phase, phase);
      });
    }
  });

  describe('what the agent says in a turn', () => {
    const cases: [string, Phase, Hint, string][] = [
      ['waiting: the agent asks the user', working(), { kind: 'waiting', at: NOW, why: 'permission' }, 'waiting'],
      ['running again after the answer', working(turn('hello', { confirmedAt: NOW - 900, asking: true })), { kind: 'running', at: NOW }, 'running'],
      ['idle, a turn typed in the terminal: running', { kind: 'idle' }, { kind: 'running', at: NOW }, 'running'],
      ['idle, a dialog in a turn typed in the terminal: waiting', { kind: 'idle' }, { kind: 'waiting', at: NOW, why: 'x' }, 'waiting'],
      ['idle, an idle: nothing', { kind: 'idle' }, { kind: 'idle', at: NOW }, 'idle'],
    ];
    for (const [rule, phase, h, state] of cases) {
      it(rule, () => assert.equal(stateOf(go(TURNS, machine(phase), hint(h)).m.phase), state));
    }

    it('its session ending: its death is expected', () => {
      assert.deepEqual(go(TURNS, machine(working()), hint({ kind: 'ended', at: NOW })).effects, [{ kind: 'expectExit' }]);
    });
  });

  describe("a driver's turn ends: the answer from its record", () => {
    const idleNamed = hint({ kind: 'idle', at: NOW, answer: 'Echo: hello' });

    it('the Stop hook names the answer: the record is read at once', () => {
      const r = go(TURNS, machine(working()), idleNamed);
      assert.deepEqual(r.effects, [{ kind: 'takeTurns', ticket: 8 }]);
      assert.equal(stateOf(r.m.phase), 'running');
    });

    it('the record has it: out (before the idle), the transcript, idle', () => {
      const r = go(TURNS, machine(working()), idleNamed, { kind: 'turns', ticket: 8, turns: [record('hello', 'Echo: hello')] });
      assert.deepEqual(r.effects.slice(1), [
        { kind: 'answer', answer: 'Echo: hello', transcript: 'USER: hello\n\nASSISTANT: Echo: hello\n\n', announce: true },
        { kind: 'state', from: 'running', to: 'idle' },
      ]);
    });

    it('an idle without the answer (the status file, or an interrupt): the hook gets a moment to name it', () => {
      const r = go(TURNS, machine(working()), hint({ kind: 'idle', at: NOW }));
      assert.deepEqual(r.effects, []);
      assert.deepEqual(r.m.phase.kind === 'collecting' && r.m.phase.wake, { at: NOW + Timing.answerNamingMs });
      const named = go(TURNS, r.m, idleNamed);
      assert.deepEqual(named.m.phase.kind === 'collecting' && named.m.phase.answer, 'Echo: hello');
    });

    // The record as read so far, and the answer named: [rule, named, turns, still collecting?]
    const cases: [string, string | undefined, Turn[], boolean][] = [
      ['nothing recorded yet, no answer named: read again', undefined, [], true],
      ['the prompt recorded, its answer not yet: read again', undefined, [record('hello')], true],
      ['the answer named is recorded: done', 'Echo: hello', [record('hello', 'Echo: hello')], false],
      ['no answer named, an answer recorded (an interrupt): done', undefined, [record('hello', 'slow slow')], false],
    ];
    for (const [rule, named, turns, waits] of cases) {
      it(rule, () => {
        const collecting: Phase = { kind: 'collecting', turn: confirmed, answer: named, taken: [], deadline: NOW + 1, wake: { ticket: 8 } };
        const r = go(TURNS, machine(collecting), { kind: 'turns', ticket: 8, turns });
        assert.equal(r.m.phase.kind, waits ? 'collecting' : 'idle');
        if (waits) assert.deepEqual(r.m.phase.kind === 'collecting' && r.m.phase.wake, { at: NOW + Timing.recordPollMs });
        assert.equal(r.m.unchecked, null, 'nothing left to check');
      });
    }

    it('the record never shows the turn, no answer named: idle at its deadline, saying where to look', () => {
      const collecting: Phase = { kind: 'collecting', turn: confirmed, answer: undefined, taken: [], deadline: NOW, wake: { ticket: 8 } };
      const r = go(TURNS, machine(collecting), { kind: 'turns', ticket: 8, turns: [] });
      assert.deepEqual(kinds(r.effects), ['error', 'state idle']);
      assert.match((r.effects[0] as { text: string }).text, /^no answer was recorded for the last prompt: is the agent agent's own record visible in the sandbox\?/);
    });

    it('an idle from the status file before the answer is recorded waits for it, not idle with an empty answer (the Claude flake)', () => {
      // The first prompt of a fresh start: the status file says idle; the record holds the prompt alone.
      const hello = record('hello');
      let r = go(TURNS, machine(working()), hint({ kind: 'idle', at: NOW }), tick, { kind: 'turns', ticket: 8, turns: [hello] });
      assert.equal(r.m.phase.kind, 'collecting', 'an answer not begun is awaited');
      r = go(TURNS, r.m, idleNamed, tick);
      assert.deepEqual(r.effects.at(-1), { kind: 'takeTurns', ticket: 9 });
      hello.parts.push({ kind: 'text', text: 'Echo: hello' }); // the driver's turns grow in place as its record does
      r = go(TURNS, r.m, { kind: 'turns', ticket: 9, turns: [] });
      assert.deepEqual(kinds(r.effects), ['answer', 'state idle']);
      assert.equal((r.effects[0] as { answer: string }).answer, 'Echo: hello');
    });

    it('a turn typed in the terminal ends the same way, its record taken', () => {
      const r = go(TURNS, machine({ kind: 'idle' }), hint({ kind: 'running', at: NOW }), idleNamed, { kind: 'turns', ticket: 8, turns: [record('typed', 'Echo: hello')] });
      assert.deepEqual(kinds(r.effects), ['state running', 'takeTurns', 'answer', 'state idle']);
    });

    it('after the answer, the next queued prompt goes', () => {
      const r = go(TURNS, machine(working(), { queue: ['next'] }), idleNamed, { kind: 'turns', ticket: 8, turns: [record('hello', 'Echo: hello')] });
      assert.deepEqual(kinds(r.effects), ['takeTurns', 'answer', 'state idle', 'state running', 'submit']);
    });
  });

  describe('the Stop hook names the final message before the record has it: idle at once, the record checked after', () => {
    const idleNamed = hint({ kind: 'idle', at: NOW, answer: 'Echo: hello' });
    const tool = (prompt: string, text: string, command: string): Turn => ({ prompt, parts: [{ kind: 'text', text }, { kind: 'tool', text: `Bash: ${command}` }] });
    const ended = (turns: Turn[]) => go(TURNS, machine(working()), idleNamed, { kind: 'turns', ticket: 8, turns });

    // [rule, the record when the hook came, out, transcript]
    const cases: [string, Turn[], string, string][] = [
      ['the record holds the prompt alone: out is the message named', [record('hello')], 'Echo: hello', 'USER: hello\n\nASSISTANT: Echo: hello\n\n'],
      ['the record holds nothing of the turn yet: the same, with the prompt we sent', [], 'Echo: hello', 'USER: hello\n\nASSISTANT: Echo: hello\n\n'],
      ['the record holds the turn up to its last tool: that, then the message named', [tool('hello', 'Let me look.', 'ls')], 'Let me look.\n\nEcho: hello', 'USER: hello\n\nASSISTANT: Let me look.\n  [tool] Bash: ls\nEcho: hello\n\n'],
    ];
    for (const [rule, turns, out, transcript] of cases) {
      it(rule, () => {
        const r = ended(turns);
        assert.deepEqual(r.effects.slice(1), [
          { kind: 'answer', answer: out, transcript, announce: true },
          { kind: 'state', from: 'running', to: 'idle' },
        ]);
        assert.deepEqual(r.m.phase, { kind: 'idle', wake: { at: NOW + Timing.recordPollMs } }, 'the record is read on while idle');
        assert.equal(r.m.unchecked?.deadline, NOW + Timing.recordLagMaxMs);
      });
    }

    it('while idle it reads the record again; caught up and agreeing: nothing said, no timer left', () => {
      const own = record('hello');
      let r = ended([own]);
      r = go(TURNS, r.m, tick);
      assert.deepEqual(r.effects, [{ kind: 'takeTurns', ticket: 9 }]);
      own.parts.push({ kind: 'text', text: 'Echo: hello' }); // the record's turn grows in place
      r = go(TURNS, r.m, { kind: 'turns', ticket: 9, turns: [] });
      assert.deepEqual(r.effects, []);
      assert.deepEqual([r.m.phase, r.m.unchecked], [{ kind: 'idle' }, null]);
    });

    it('not caught up: read again; past its deadline, what was given stands', () => {
      let r = go(TURNS, ended([record('hello')]).m, tick, { kind: 'turns', ticket: 9, turns: [] });
      assert.deepEqual(r.m.phase, { kind: 'idle', wake: { at: NOW + Timing.recordPollMs } });
      const late = step(r.m, tick, NOW + Timing.recordLagMaxMs, TURNS).machine;
      const after = step(late, { kind: 'turns', ticket: 10, turns: [] }, NOW + Timing.recordLagMaxMs, TURNS);
      assert.deepEqual([after.machine.phase, after.machine.unchecked, after.effects], [{ kind: 'idle' }, null, []]);
    });

    it('the record, caught up, differs: it wins — out and the turn in the transcript replaced, an out event', () => {
      const own = record('hello');
      const r = go(TURNS, ended([own]).m, tick);
      own.parts.push({ kind: 'tool', text: 'Bash: ls' }, { kind: 'text', text: 'Echo: hello' });
      const checked = go(TURNS, r.m, { kind: 'turns', ticket: 9, turns: [] });
      assert.deepEqual(checked.effects, [
        { kind: 'answer', answer: 'Echo: hello', transcript: 'USER: hello\n\nASSISTANT: \n  [tool] Bash: ls\nEcho: hello\n\n', announce: true, replaces: 'USER: hello\n\nASSISTANT: Echo: hello\n\n' },
      ]);
    });

    it('a queued prompt goes at once; the next turn\'s reading of the record checks the turn before first', () => {
      let r = go(TURNS, machine(working(), { queue: ['next'] }), idleNamed, { kind: 'turns', ticket: 8, turns: [] });
      assert.deepEqual(kinds(r.effects), ['takeTurns', 'answer', 'state idle', 'state running', 'submit']);
      assert.ok(r.m.unchecked, 'the check waits for the next read');
      r = go(TURNS, r.m, { kind: 'sent', ticket: 9 }, hint({ kind: 'submitted', at: NOW }), hint({ kind: 'idle', at: NOW, answer: 'Echo: next' }));
      // The record now holds both turns, the first new to us: it is the turn before, checked (agreeing), not part of this one.
      r = go(TURNS, r.m, { kind: 'turns', ticket: 10, turns: [record('hello', 'Echo: hello'), record('next', 'Echo: next')] });
      assert.deepEqual(r.effects.filter((e) => e.kind === 'answer'), [{ kind: 'answer', answer: 'Echo: next', transcript: 'USER: next\n\nASSISTANT: Echo: next\n\n', announce: true }]);
      assert.equal(r.m.unchecked, null);
    });

    it('a named idle while the record is polled (the status file came first): the record is read at once', () => {
      const polling: Phase = { kind: 'collecting', turn: confirmed, answer: undefined, taken: [record('hello')], deadline: NOW + 1000, wake: { at: NOW + Timing.recordPollMs } };
      const r = go(TURNS, machine(polling), idleNamed);
      assert.deepEqual(r.effects, [{ kind: 'takeTurns', ticket: 8 }]);
      const done = go(TURNS, r.m, { kind: 'turns', ticket: 8, turns: [] });
      assert.deepEqual(kinds(done.effects), ['answer', 'state idle']);
      assert.equal((done.effects[0] as { answer: string }).answer, 'Echo: hello');
    });

    it('turns read for a phase no longer waiting for them are kept for the next turn', () => {
      const r = go(TURNS, machine(working()), { kind: 'turns', ticket: 3, turns: [record('typed', 'Echo: typed')] });
      assert.equal(r.m.early.length, 1);
      const end = go(TURNS, r.m, hint({ kind: 'idle', at: NOW }), tick, { kind: 'turns', ticket: 8, turns: [] });
      assert.deepEqual(end.effects.filter((e) => e.kind === 'answer'), [{ kind: 'answer', answer: 'Echo: typed', transcript: 'USER: typed\n\nASSISTANT: Echo: typed\n\n', announce: true }]);
      assert.deepEqual(end.m.early, []);
    });
  });

  describe('a hints-only driver’s turn ends: the answer from the output, once it settled', () => {
    const printed = '\x1b[1mhello\x1b[0m\r\n> Kiro heard: hello\r\n';
    const kiro = rulesFor('hints', { response: { strip: [], remove: [/^> /], source: 'output' } });
    const settling: Phase = { kind: 'settling', turn: turn('hello', { confirmedAt: NOW - 900, printed }), deadline: NOW + 1000, wake: { at: NOW } };

    it('its idle: the output is let settle', () => {
      const r = go(kiro, machine(working(turn('hello', { confirmedAt: NOW - 900 }))), hint({ kind: 'idle', at: NOW }));
      assert.equal(r.m.phase.kind, 'settling');
    });

    it('its idle carrying the answer: the answer at once, no settling', () => {
      const r = go(kiro, machine(working(turn('hello', { confirmedAt: NOW - 900 }))), hint({ kind: 'idle', at: NOW, answer: 'Kiro heard: hello' }));
      assert.deepEqual(kinds(r.effects), ['answer', 'state idle']);
      assert.equal((r.effects[0] as { answer: string }).answer, 'Kiro heard: hello');
    });

    it('output a moment ago: wait for it to settle', () => {
      const r = go(kiro, machine(settling, { lastOutputAt: NOW - 30 }), tick);
      assert.deepEqual(r.m.phase.kind === 'settling' && r.m.phase.wake, { at: NOW - 30 + Timing.settleQuietMs });
    });

    it('settled: the answer, cut out of the output', () => {
      const r = go(kiro, machine(settling), tick);
      assert.deepEqual(r.effects[0], { kind: 'answer', answer: 'Kiro heard: hello', transcript: 'USER: hello\n\nASSISTANT: Kiro heard: hello\n\n', announce: true });
      assert.equal(r.m.phase.kind, 'idle');
    });

    it('an interrupt fires no hook: the screen judges that turn', () => {
      const r = go(kiro, machine(working(turn('hello', { confirmedAt: NOW - 900 }))), { kind: 'interrupted' });
      assert.deepEqual(r.m.phase.kind === 'working' && [r.m.phase.turn.byScreen, r.m.phase.wake], [true, { at: NOW + QUIET }]);
      assert.deepEqual(go(TURNS, machine(working()), { kind: 'interrupted' }).m.phase, working(), 'a driver with a status file tells the interrupt itself');
    });
  });

  describe('a screen-judged turn ends when the agent is quiet, has no child process at work, and its screen agrees', () => {
    const patterns = rulesFor('none', { state: { method: 'quiet', quietMs: QUIET, busy: /Thinking/, ready: /^> $/m } });
    const byScreen = working(turn('hello', { byScreen: true, printed: 'hello\r\nYou said: hello\r\n' }), { ticket: 8 });

    it('output: not quiet, the look waits', () => {
      const r = go(NONE, machine(working(turn('hello', { byScreen: true }), { at: NOW + 5 })), { kind: 'output', text: 'more' });
      assert.deepEqual(r.m.phase.kind === 'working' && [r.m.phase.wake, r.m.phase.turn.printed], [{ at: NOW + QUIET }, 'more']);
    });

    it('quiet long enough: it looks (at the screen only when the backend has patterns)', () => {
      const quiet = working(turn('hello', { byScreen: true }), { at: NOW });
      assert.deepEqual(go(NONE, machine(quiet), tick).effects, [{ kind: 'look', ticket: 8, screen: false }]);
      assert.deepEqual(go(patterns, machine(quiet), tick).effects, [{ kind: 'look', ticket: 8, screen: true }]);
      const r = go(NONE, machine(quiet, { lastOutputAt: NOW - 100 }), tick);
      assert.deepEqual(r.m.phase.kind === 'working' && r.m.phase.wake, { at: NOW - 100 + QUIET });
    });

    const looks: [string, number, string | null, boolean][] = [
      ['a tool still runs in a child process: not over, however quiet', 1, null, false],
      ['the busy pattern on the screen: not over', 0, 'Thinking...\n> ', false],
      ['the ready pattern missing: not over', 0, 'half drawn', false],
      ['quiet, no child, ready: over', 0, '> ', true],
    ];
    for (const [rule, children, screen, over] of looks) {
      it(rule, () => {
        const r = go(patterns, machine(byScreen), { kind: 'looked', ticket: 8, children, screen });
        assert.equal(r.m.phase.kind, over ? 'idle' : 'working');
        if (over) assert.deepEqual(r.effects[0], { kind: 'answer', answer: 'You said: hello', transcript: 'USER: hello\n\nASSISTANT: You said: hello\n\n', announce: true });
      });
    }

    it('a full-screen agent: its pane with history is captured, the answer cut from it', () => {
      const screen = rulesFor('none', { response: { strip: [], remove: [], source: 'screen' }, state: { method: 'quiet', quietMs: QUIET, busy: null, ready: /^>/ } });
      let r = go(screen, machine(byScreen, { tickets: 8 }), { kind: 'looked', ticket: 8, children: 0, screen: null });
      assert.deepEqual(r.effects, [{ kind: 'capture', ticket: 9 }]);
      r = go(screen, r.m, { kind: 'captured', ticket: 9, screen: '> older\nold answer\n› hello\n  new answer\n> ' });
      assert.equal((r.effects[0] as { answer: string }).answer, '  new answer');
    });

    it('a slash command with a driver: the answer from its record', () => {
      const r = go(TURNS, machine(byScreen, { tickets: 8 }), { kind: 'looked', ticket: 8, children: 0, screen: null });
      assert.deepEqual(r.effects, [{ kind: 'takeTurns', ticket: 9 }]);
    });
  });

  describe('adopting a session after a daemon restart', () => {
    const turns = [record('before', 'Echo: before'), { prompt: 'slow', parts: [] }];
    const cases: [string, Rules, 'idle' | 'running' | 'waiting' | null, string, boolean][] = [
      ['a driver says it is busy: running, the open turn awaited', TURNS, 'running', 'running', true],
      ['a driver says it waits: waiting', TURNS, 'waiting', 'waiting', true],
      ['a driver says it is idle: idle', TURNS, 'idle', 'idle', false],
      ['no driver: the screen says, a quiet time on', NONE, null, 'running', false],
      ['hints only: the screen says', HINTS, null, 'running', false],
    ];
    for (const [rule, rules, status, state, open] of cases) {
      it(rule, () => {
        const r = go(rules, machine(starting), { kind: 'adopt', children: 2, status, turns: rules.driver === 'turns' ? turns : [] });
        assert.equal(stateOf(r.m.phase), state);
        assert.deepEqual(r.effects.find((e) => e.kind === 'state'), { kind: 'state', from: 'starting', to: state }, 'its event');
        assert.equal(r.m.baseline, 2);
        if (open) assert.deepEqual(r.effects[0], { kind: 'answer', answer: 'Echo: before', transcript: 'USER: before\n\nASSISTANT: Echo: before\n\n', announce: false });
        if (open) assert.deepEqual(r.m.phase.kind === 'working' && [r.m.phase.turn.prompt, r.m.phase.turn.taken], ['slow', [turns[1]]]);
      });
    }
  });

  describe('every end is one end, from every phase', () => {
    const t = turn('hello', { confirmedAt: NOW - 900 });
    const phases: Phase[] = [
      starting,
      { kind: 'idle' },
      { kind: 'sending', turn: t, wake: { ticket: 3 } },
      { kind: 'confirming', turn: turn(), enters: 1, wake: { at: NOW } },
      working(t),
      working({ ...t, asking: true }),
      { kind: 'settling', turn: t, deadline: NOW, wake: { at: NOW } },
      { kind: 'collecting', turn: t, answer: undefined, taken: [], deadline: NOW, wake: { at: NOW } },
      { kind: 'reading', turn: t, wake: { ticket: 3 } },
    ];
    for (const phase of phases) {
      const from = stateOf(phase);
      it(`${phase.kind} (${from}): a crash, a kill, the window gone`, () => {
        const died = { kind: 'died', status: 3, lastLines: 'Segmentation fault' } as const;
        const crash = go(TURNS, machine(phase, { queue: ['q'] }), { kind: 'end', cause: died });
        assert.deepEqual(crash.m.phase, { kind: 'ended', state: 'exited', killed: false });
        assert.deepEqual(crash.effects, [
          { kind: 'error', text: 'the agent exited with status 3; its last screen lines:\nSegmentation fault' },
          { kind: 'end', cause: died, from, announce: true },
        ]);
        assert.deepEqual(crash.m.queue, ['q'], 'kept for a restart');
        const kill = go(TURNS, machine(phase, { queue: ['q'] }), { kind: 'end', cause: { kind: 'killed' } });
        assert.deepEqual(kill.effects, [{ kind: 'end', cause: { kind: 'killed' }, from, announce: true }]);
        assert.deepEqual(kill.m.queue, [], 'a kill drops the queue');
        const gone = go(TURNS, machine(phase), { kind: 'end', cause: { kind: 'gone' } });
        assert.deepEqual(kinds(gone.effects), ['error', 'end']);
      });
    }

    it('ended: nothing more happens, a second end is not announced', () => {
      const ended = machine({ kind: 'ended', state: 'exited', killed: false });
      const inputs: Input[] = [{ kind: 'prompt', text: 'x' }, { kind: 'output', text: 'x' }, tick, hint({ kind: 'idle', at: NOW }), { kind: 'end', cause: { kind: 'died', status: 1, lastLines: '' } }, { kind: 'end', cause: { kind: 'gone' } }];
      for (const input of inputs) assert.deepEqual(go(TURNS, ended, input), { m: ended, effects: [] }, input.kind);
    });

    it('killing an ended session still closes its window, unannounced; a killed session does not restart', () => {
      const r = go(TURNS, machine({ kind: 'ended', state: 'error', killed: false }), { kind: 'end', cause: { kind: 'killed' } });
      assert.deepEqual(r.effects, [{ kind: 'end', cause: { kind: 'killed' }, from: 'error', announce: false }]);
      assert.deepEqual(go(TURNS, r.m, { kind: 'restart' }).effects, []);
    });

    it('a failed restart: error', () => {
      const r = go(TURNS, machine(working()), { kind: 'restart' }, { kind: 'end', cause: { kind: 'restartFailed', message: 'not installed' } });
      assert.deepEqual(r.effects, [
        { kind: 'state', from: 'running', to: 'starting' },
        { kind: 'error', text: 'restart failed: not installed' },
        { kind: 'end', cause: { kind: 'restartFailed', message: 'not installed' }, from: 'starting', announce: true },
      ]);
      assert.equal(stateOf(r.m.phase), 'error');
    });
  });

  describe('restart', () => {
    it('starting at once, the queue kept; the clock starts when the agent is respawned', () => {
      let r = go(TURNS, machine(working(), { queue: ['q'] }), { kind: 'restart' });
      assert.deepEqual(r.m.phase, { kind: 'starting', deadline: Infinity, answered: [], wake: null });
      assert.deepEqual(r.m.queue, ['q']);
      r = go(TURNS, r.m, { kind: 'respawned' });
      assert.deepEqual(r.m.phase, { kind: 'starting', deadline: NOW + 30_000, answered: [], wake: { at: NOW + QUIET } });
    });

    it('an exited session starts again', () => {
      const r = go(TURNS, machine({ kind: 'ended', state: 'exited', killed: false }), { kind: 'restart' });
      assert.deepEqual(r.effects, [{ kind: 'state', from: 'exited', to: 'starting' }]);
    });
  });
});
