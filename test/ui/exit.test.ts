/** Del on /AnviLLM/, Assist's last window: acme deletes it (Del is acme's) and Assist exits. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { needs } from '../helpers.js';
import { assistWorld } from './world.js';

describe('Assist with its last window closed', { skip: needs('tmux', 'bwrap') }, () => {
  it('Get re-reads the table; Del on /AnviLLM/ closes it and Assist exits', async () => {
    const w = await assistWorld();
    try {
      const main = w.main();
      w.acme.click(main.id, 'tag', 'Get', 2);
      w.acme.click(main.id, 'tag', 'Del', 2);
      assert.equal(await w.exited, 0);
      assert.deepEqual(w.acme.names(), []);
      assert.deepEqual(w.acme.actions.map((a) => a.text), ['Del']);
      assert.deepEqual(w.errors, []);
    } finally {
      await w.close();
    }
  });
});
