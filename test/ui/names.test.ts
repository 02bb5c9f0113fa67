/** Chat window names: a file in the session's directory, unless acme cannot take that name. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { chatName } from '../../src/ui/chat.js';

describe('chat window names', () => {
  it('are <cwd>/+Chat.<alias or id>', () => {
    assert.equal(chatName('/home/me/proj', 'a3f2b9d1', ''), '/home/me/proj/+Chat.a3f2b9d1');
    assert.equal(chatName('/home/me/proj', 'a3f2b9d1', 'worker'), '/home/me/proj/+Chat.worker');
  });

  it('live under /AnviLLM/ when the cwd holds a space or control character (acme: "bad character in file name")', () => {
    assert.equal(chatName('/home/me/my project', 'a3f2b9d1', 'worker'), '/AnviLLM/+Chat.worker');
    assert.equal(chatName('/tmp/a\tb', 'a3f2b9d1', ''), '/AnviLLM/+Chat.a3f2b9d1');
  });
});
