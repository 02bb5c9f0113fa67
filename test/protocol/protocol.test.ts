/** agent/'s protocol: what the daemon writes, its clients read back as it was; errors that fit. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  ALIAS_MAX,
  ERRMAX,
  ExplainedError,
  aliasProblem,
  backendLine,
  eventLine,
  explain,
  fitError,
  parseBackends,
  parseEvent,
  type AgentEvent,
} from '../../src/protocol/protocol.js';

describe('event lines', () => {
  it('every kind, with a cwd and a text holding spaces, tabs, newlines and backslashes, reads back as written', () => {
    const events: AgentEvent[] = [
      { id: 'a3f2b9d1', kind: 'new', backend: 'claude', cwd: '/home/me/my project\t\\x\ny' },
      { id: 'a3f2b9d1', kind: 'state', from: 'idle', to: 'running' },
      { id: 'a3f2b9d1', kind: 'alias', alias: 'worker' },
      { id: 'a3f2b9d1', kind: 'out' },
      { id: 'a3f2b9d1', kind: 'exit', status: 3 },
      { id: 'a3f2b9d1', kind: 'exit', status: null },
      { id: 'a3f2b9d1', kind: 'error', text: 'restart failed: two\nlines' },
      { id: 'a3f2b9d1', kind: 'gone' },
    ];
    for (const e of events) {
      const line = eventLine(e);
      assert.equal(line.indexOf('\n'), line.length - 1, 'one line');
      assert.deepEqual(parseEvent(line.slice(0, -1)), e);
    }
    assert.equal(eventLine(events[1]!), 'a3f2b9d1 state idle running\n');
    assert.equal(eventLine({ id: 'a3f2b9d1', kind: 'gone' }), 'a3f2b9d1 gone\n');
    assert.equal(parseEvent('a3f2b9d1 frobbed'), null, 'a kind this client does not know is skipped');
  });

  it('backends lines read back as written', () => {
    const b = { name: 'claude', label: 'Claude', available: false, command: 'claude --x\ty' };
    assert.deepEqual(parseBackends(backendLine(b) + backendLine({ ...b, name: 'kiro-cli', available: true })), [b, { ...b, name: 'kiro-cli', available: true }]);
  });
});

describe('aliases', () => {
  it(`at most ${ALIAS_MAX} characters`, () => {
    assert.equal(aliasProblem('a'.repeat(ALIAS_MAX)), null);
    assert.match(aliasProblem('a'.repeat(ALIAS_MAX + 1))!, /at most 64 characters/);
  });
});

describe('fitError', () => {
  it('a message that fits is kept as it is', () => {
    assert.equal(fitError('session a3f2b9d1 has exited: start a new one'), 'session a3f2b9d1 has exited: start a new one');
  });

  it('long words lose their middles, so what failed and what to do stay', () => {
    const fitted = fitError(`/home/me/${'deep/'.repeat(60)}x does not exist: give an existing directory`);
    assert.ok(Buffer.byteLength(fitted) <= ERRMAX);
    assert.match(fitted, /^\/home\/me\/deep.*….*deep\/x does not exist: give an existing directory$/);
  });

  it('multi-byte characters are never split, and a message of many short words is cut at its end', () => {
    for (const message of [`bad alias "${'é'.repeat(300)}": use letters`, `unknown command ${'ab '.repeat(200)}`, `${'€'.repeat(500)}`]) {
      const fitted = fitError(message);
      assert.ok(Buffer.byteLength(fitted) <= ERRMAX, fitted);
      assert.ok(!fitted.includes('\uFFFD'));
    }
    assert.match(fitError(`bad alias "${'é'.repeat(300)}": use letters`), /^bad alias "é+…é+": use letters$/);
  });

  it('an explained error keeps its whole text for the log and the ctl read-back', () => {
    const e = new ExplainedError('no sandbox for claude: install bubblewrap; see anvillm sandbox check', 'sandbox: no provider can…\n  - bwrap: not installed');
    assert.deepEqual(explain(e), { rerror: e.message, detail: `${e.message}\n${e.detail}` });
    assert.deepEqual(explain(new Error('short')), { rerror: 'short', detail: 'short' });
  });
});
