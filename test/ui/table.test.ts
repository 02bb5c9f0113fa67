/** The table's edits: only what changed is rewritten, addresses in runes, last edit first. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { Row } from '../../src/ui/agent.js';
import { diff, renderTable, type Edit } from '../../src/ui/table.js';

function apply(text: string, edits: Edit[]): string {
  let r = [...text];
  for (const e of edits) r = [...r.slice(0, e.q0), ...e.text, ...r.slice(e.q1)];
  return r.join('');
}

const row = (id: string, state: string, cwd = '/home/me/prøject'): Row => ({ id, backend: 'claude', state, pid: '42', alias: '', cwd });

describe('session table', () => {
  it('renders the columns the spec names', () => {
    const t = renderTable([row('a3f2b9d1', 'idle')]);
    assert.match(t, /^ID\s+Backend\s+State\s+PID\s+Alias\s+Cwd\n-+ -+/);
    assert.match(t, /\na3f2b9d1 claude\s+idle\s+42\s+\/home\/me\/prøject\n$/);
  });

  it('a state change rewrites only the state\'s characters', () => {
    const a = renderTable([row('a3f2b9d1', 'idle'), row('b0000001', 'idle')]);
    const b = renderTable([row('a3f2b9d1', 'running'), row('b0000001', 'idle')]);
    const edits = diff(a, b);
    assert.equal(edits.length, 1);
    assert.ok(edits[0]!.text.length <= 'running'.length, JSON.stringify(edits));
    assert.equal(apply(a, edits), b);
  });

  it('new rows, removed rows and changes far apart all apply, in runes, last first', () => {
    const a = renderTable([row('a1', 'idle'), row('b2', 'idle'), row('c3', 'idle', '/ünï/cødé')]);
    const b = renderTable([row('n0', 'starting'), row('a1', 'idle'), row('c3', 'exited', '/ünï/cødé')]);
    const edits = diff(a, b);
    assert.equal(apply(a, edits), b);
    for (let i = 1; i < edits.length; i++) assert.ok(edits[i]!.q1 <= edits[i - 1]!.q0, 'last first');
    assert.deepEqual(diff(b, b), []);
    assert.equal(apply(a, diff(a, b, 1)), b, 'merged into one edit');
    assert.equal(diff(a, b, 1).length, 1);
  });
});
