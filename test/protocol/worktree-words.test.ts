/** The words after `new <backend> <cwd>` in agent/ctl: `[alias] [worktree[=<branch>]]`. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { newOptions, newWords, type NewOptions } from '../../src/protocol/protocol.js';

describe('new <backend> <cwd> [alias] [worktree[=<branch>]]', () => {
  it('reads an alias, a worktree on the default branch or a named one, or both', () => {
    assert.deepEqual(newOptions([]), {});
    assert.deepEqual(newOptions(['fixer']), { alias: 'fixer' });
    assert.deepEqual(newOptions(['worktree']), { worktree: {} });
    assert.deepEqual(newOptions(['worktree=feature/x']), { worktree: { branch: 'feature/x' } });
    assert.deepEqual(newOptions(['fixer', 'worktree']), { alias: 'fixer', worktree: {} });
    assert.deepEqual(newOptions(['worktree', 'worktree']), { alias: 'worktree', worktree: {} }, 'an alias named worktree, given with the option');
  });

  it('refuses what it cannot read: too many words, an empty branch', () => {
    assert.equal(newOptions(['a', 'b']), null);
    assert.equal(newOptions(['a', 'b', 'worktree']), null);
    assert.equal(newOptions(['worktree=']), null);
    assert.equal(newOptions(['worktree', 'fixer']), null, 'the option comes last');
  });

  it('reads back what the client writes', () => {
    const cases: NewOptions[] = [{}, { alias: 'fixer' }, { worktree: {} }, { worktree: { branch: 'feature/x' } }, { alias: 'worktree', worktree: { branch: 'b' } }];
    for (const o of cases) assert.deepEqual(newOptions(newWords(o)), o);
  });
});
