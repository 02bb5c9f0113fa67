/** agent/list's lines: written with lineField, read back with parseList by every client. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseList } from '../../src/protocol/protocol.js';
import { lineField } from '../../src/protocol/words.js';

describe('list lines', () => {
  it('a cwd with a tab, a newline and a backslash comes back as it was; "-" is no alias', () => {
    const cwd = '/tmp/a\tb\nc\\d';
    const text = `a3f2b9d1\tclaude\tidle\t42\t-\t${lineField(cwd)}\nb0000001\tfake\trunning\t-\tworker\t/x\n`;
    assert.deepEqual(parseList(text), [
      { id: 'a3f2b9d1', backend: 'claude', state: 'idle', pid: '42', alias: null, cwd },
      { id: 'b0000001', backend: 'fake', state: 'running', pid: '-', alias: 'worker', cwd: '/x' },
    ]);
  });
});
