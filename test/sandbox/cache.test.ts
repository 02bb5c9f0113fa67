/**
 * What the daemon keeps between sessions (src/sandbox/cache.ts) must never hide a change: an edit
 * of sandbox.yaml applies to the next session, however quick and whatever its size, and a
 * provider installed while the daemon runs is found at the next `new`.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { SandboxCache } from '../../src/sandbox/cache.js';
import { DEFAULT_POLICY_YAML } from '../../src/sandbox/default-policy.js';
import { policyPath } from '../../src/sandbox/policy.js';
import { findOnPath } from '../../src/sandbox/resolve.js';
import { tempDir } from '../helpers.js';

describe('sandbox cache', () => {
  it('the policy: written with the defaults when missing, every edit applied, a broken one refused and its fix applied', () => {
    const tmp = tempDir();
    try {
      const env = { HOME: tmp.dir, PATH: process.env['PATH'] };
      const cache = new SandboxCache(env);
      assert.equal(cache.policy().bestEffort, false);
      assert.equal(fs.readFileSync(policyPath(env), 'utf8'), DEFAULT_POLICY_YAML);
      // Same size, the same millisecond: still a change.
      const on = DEFAULT_POLICY_YAML.replace('best_effort: false', 'best_effort: true ');
      fs.writeFileSync(policyPath(env), on);
      assert.equal(cache.policy().bestEffort, true);
      fs.writeFileSync(policyPath(env), 'general: [');
      assert.throws(() => cache.policy(), /sandbox\.yaml:1/);
      fs.writeFileSync(policyPath(env), DEFAULT_POLICY_YAML);
      assert.equal(cache.policy().bestEffort, false);
    } finally {
      tmp.remove();
    }
  });

  it('a provider that could not sandbox is probed again at the next new, and found once it can', { skip: !findOnPath('bwrap', process.env) && 'needs bubblewrap (sudo apt-get install bubblewrap)' }, async () => {
    const tmp = tempDir();
    try {
      const bin = path.join(tmp.dir, 'bin');
      fs.mkdirSync(bin);
      const env = { HOME: tmp.dir, PATH: `${bin}:/usr/bin:/bin` };
      const bwrap = path.join(bin, 'bwrap');
      fs.writeFileSync(bwrap, '#!/bin/sh\necho "bwrap: no namespaces here" >&2\nexit 1\n', { mode: 0o755 });
      const cache = new SandboxCache(env);
      const broken = await cache.probe();
      assert.equal(broken.bwrap.usable, false);
      assert.match(broken.bwrap.problem ?? '', /no namespaces here/);
      fs.writeFileSync(bwrap, `#!/bin/sh\nexec ${findOnPath('bwrap', process.env)} "$@"\n`, { mode: 0o755 });
      assert.equal((await cache.probe()).bwrap.usable, true);
    } finally {
      tmp.remove();
    }
  });
});
