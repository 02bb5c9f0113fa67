import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { DEFAULT_POLICY_YAML } from '../../src/sandbox/default-policy.js';
import { loadPolicy, parsePolicy, policyPath, PolicyError } from '../../src/sandbox/policy.js';
import { expandTemplate, resolveSession, selectEnv } from '../../src/sandbox/resolve.js';
import { tempDir } from '../helpers.js';

const FILE = '/home/u/.config/anvillm/sandbox.yaml';

function refused(yaml: string, pattern: RegExp): void {
  assert.throws(() => parsePolicy(yaml, FILE), (e: unknown) => {
    assert.ok(e instanceof PolicyError, `a PolicyError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

describe('sandbox policy file', () => {
  it('is written with the commented default on first use, honouring $XDG_CONFIG_HOME, and never overwritten', () => {
    const tmp = tempDir();
    try {
      const env = { HOME: tmp.dir, XDG_CONFIG_HOME: path.join(tmp.dir, 'cfg') };
      assert.equal(policyPath(env), path.join(tmp.dir, 'cfg', 'anvillm', 'sandbox.yaml'));
      const policy = loadPolicy(env);
      assert.equal(fs.readFileSync(policyPath(env), 'utf8'), DEFAULT_POLICY_YAML);
      assert.match(DEFAULT_POLICY_YAML, /^# AnviLLM sandbox policy/);
      assert.equal(policy.bestEffort, false);
      fs.writeFileSync(policyPath(env), 'general:\n  best_effort: true\n');
      assert.equal(loadPolicy(env).bestEffort, true, 'the edited file is kept and read');
      assert.equal(policyPath({ HOME: '/h' }), '/h/.config/anvillm/sandbox.yaml');
    } finally {
      tmp.remove();
    }
  });

  it('the default is strict, auto, network unrestricted, and grants what agents were measured to need', () => {
    const p = parsePolicy(DEFAULT_POLICY_YAML, FILE);
    assert.deepEqual([p.bestEffort, p.provider, p.logLevel], [false, 'auto', 'error']);
    assert.deepEqual(p.network, { enabled: true, unrestricted: true, connectTcp: [], bindTcp: [] });
    assert.deepEqual(p.env, ['HOME', 'USER', 'PATH', 'LANG', 'TERM']);
    const by = (access: string) => p.paths.filter((r) => r.access === access).map((r) => r.template);
    assert.ok(by('rw').includes('/dev/null'), '/dev/null read-write: git and the Bash tool need it');
    for (const f of ['/dev/urandom', '/proc/self/maps', '/proc/self/stat', '/etc/bash.bashrc', '/etc/resolv.conf']) assert.ok(by('ro').includes(f), f);
    for (const f of ['/etc/passwd', '/proc/meminfo', '/proc/self/cgroup', '/proc/version']) assert.ok(!by('ro').includes(f), `${f} is not needed`);
    assert.deepEqual(by('rox'), ['/usr', '/lib', '/lib64', '/bin', '/sbin']);
    // ~/.claude.json is no longer granted: sessions keep Claude Code's state in their own file (issue 12).
    assert.ok(by('rw').includes('{CWD}') && by('rw').includes('{HOME}/.claude') && !by('rw').includes('{HOME}/.claude.json'));
    assert.deepEqual(p.unprotect, [], 'nothing released');
    assert.ok(!p.paths.some((r) => r.template.includes('anvillm')), 'an agent must not be able to rewrite its own sandbox policy');
  });

  it('parses ports and ranges', () => {
    const p = parsePolicy('network:\n  unrestricted: false\n  connect_tcp: ["443", 80, "3000-3002"]\n  bind_tcp: [8080]\n', FILE);
    assert.deepEqual(p.network.connectTcp, [{ from: 443, to: 443 }, { from: 80, to: 80 }, { from: 3000, to: 3002 }]);
    assert.deepEqual(p.network.bindTcp, [{ from: 8080, to: 8080 }]);
  });

  describe('refuses a bad policy, naming the file, line and field', () => {
    it('an unknown key', () => {
      refused('general:\n  best_effort: false\n  bestEffort: true\n', /sandbox\.yaml:3: general\.bestEffort: unknown key; expected one of best_effort, log_level, provider/);
      refused('filesystm:\n  rw: []\n', /:1: filesystm: unknown key/);
    });
    it('a wrong type', () => {
      refused('general:\n  best_effort: "yes"\n', /:2: general\.best_effort: must be true or false/);
      refused('filesystem:\n  rw: /tmp\n', /:2: filesystem\.rw: must be a list/);
      refused('filesystem:\n  rw:\n    - {a: 1}\n', /:3: filesystem\.rw\[0\]: must be a string/);
      refused('network: true\n', /:1: network: must be a mapping/);
      refused('general:\n  provider: docker\n', /:2: general\.provider: must be one of auto, landrun, bwrap/);
    });
    it('a relative path', () => {
      refused('filesystem:\n  ro:\n    - /ok\n    - etc/passwd\n', /:4: filesystem\.ro\[1\]: "etc\/passwd" is a relative path/);
    });
    it('a bad port or range', () => {
      refused('network:\n  connect_tcp: ["https"]\n', /:2: network\.connect_tcp\[0\]: "https" is not a port/);
      refused('network:\n  connect_tcp:\n    - 443\n    - 70000\n', /:4: network\.connect_tcp\[1\]: port 70000 is outside 1-65535/);
      refused('network:\n  bind_tcp: ["9000-3000"]\n', /:2: network\.bind_tcp\[0\]: range 9000-3000 runs backwards/);
      refused('network:\n  bind_tcp: ["0"]\n', /port 0 is outside/);
    });
    it('a bad variable name', () => {
      refused('env:\n  - HOME\n  - MY-VAR\n', /:3: env\[1\]: "MY-VAR" is not a variable name/);
    });
    it('broken yaml and duplicate keys', () => {
      refused('general:\n  best_effort: [\n', /sandbox\.yaml:\d+: /);
      refused('general:\n  provider: auto\n  provider: bwrap\n', /sandbox\.yaml:3: general\.provider: appears twice; keep one/);
    });
    it('an undefined variable, when a session expands it', () => {
      const p = parsePolicy('filesystem:\n  rw:\n    - "{CWD}"\n    - "{NO_SUCH_VAR}/cache"\n', FILE);
      assert.throws(
        () => resolveSession(p, { cwd: '/w', stateDir: '/s', agentPath: process.execPath, env: { HOME: '/h' } }),
        /sandbox\.yaml:4: filesystem\.rw: \{NO_SUCH_VAR\} is not defined: set \$NO_SUCH_VAR/,
      );
    });
  });
});

describe('templates and what a session gets', () => {
  const ctx = { cwd: '/work/proj', stateDir: '/state/s1', agentPath: process.execPath, env: { HOME: '/home/u', FOO: '/opt/foo' } };

  it('expands every template', () => {
    const x = (t: string) => expandTemplate(t, ctx, 'here');
    assert.equal(x('{CWD}/src'), '/work/proj/src');
    assert.equal(x('{HOME}/.claude'), '/home/u/.claude');
    assert.equal(x('~/.kiro'), '/home/u/.kiro');
    assert.equal(x('{TMPDIR}'), '/state/s1/tmp', 'the session’s own temporary directory, not all of /tmp');
    assert.equal(x('{XDG_CONFIG_HOME}/anvillm'), '/home/u/.config/anvillm');
    assert.equal(x('{XDG_DATA_HOME}'), '/home/u/.local/share');
    assert.equal(x('{XDG_CACHE_HOME}'), '/home/u/.cache');
    assert.equal(x('{XDG_STATE_HOME}'), '/home/u/.local/state');
    assert.equal(x('{FOO}/bin'), '/opt/foo/bin');
    assert.equal(expandTemplate('{XDG_CONFIG_HOME}', { ...ctx, env: { ...ctx.env, XDG_CONFIG_HOME: '/cfg' } }, 'here'), '/cfg');
    assert.throws(() => expandTemplate('{REL}', { ...ctx, env: { REL: 'relative' } }, 'here'), /expands to the relative path/);
  });

  it('always grants the session directory, state and temporary directories, and the agent and its interpreter', () => {
    const tmp = tempDir();
    try {
      // An agent installed the npm way: a #!/usr/bin/env node script behind a symlink.
      const pkg = path.join(tmp.dir, 'lib', 'node_modules', 'agent');
      fs.mkdirSync(pkg, { recursive: true });
      fs.writeFileSync(path.join(pkg, 'cli.js'), '#!/usr/bin/env node\n');
      fs.mkdirSync(path.join(tmp.dir, 'bin'));
      fs.symlinkSync(path.join(pkg, 'cli.js'), path.join(tmp.dir, 'bin', 'agent'));
      const env = { HOME: '/home/u', PATH: `${path.dirname(process.execPath)}:/usr/bin`, SECRET: 's', ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: 'u' };
      const p = parsePolicy('filesystem:\n  ro: ["{CWD}"]\n  rw: ["/nonexistent-path"]\nenv: [HOME, PATH]\n', FILE);
      const r = resolveSession(p, { cwd: tmp.dir, stateDir: '/state/s1', agentPath: path.join(tmp.dir, 'bin', 'agent'), env, passEnv: ['ANTHROPIC_*'] });
      const get = (q: string) => r.paths.find((g) => g.path === q);
      assert.deepEqual([get(tmp.dir)!.write, get(tmp.dir)!.exec], [true, false], 'ro and the session rw merge into rw');
      assert.equal(get('/state/s1')!.write, true);
      assert.equal(get('/state/s1/tmp')!.write, true);
      assert.deepEqual([get(pkg)!.exec, get(pkg)!.write], [true, false], "the agent's real directory is read+execute");
      assert.equal(get(path.dirname(fs.realpathSync(process.execPath)))!.exec, true, 'its interpreter too');
      assert.equal(get('/nonexistent-path')!.exists, false);
      assert.deepEqual(r.env, { HOME: '/home/u', PATH: env.PATH, ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: 'u', TMPDIR: '/state/s1/tmp' });
      assert.deepEqual(
        r.paths.map((g) => g.path),
        [...r.paths.map((g) => g.path)].sort(),
        'sorted, so parents come before their children',
      );
    } finally {
      tmp.remove();
    }
  });

  it('selects variables by name and by prefix', () => {
    assert.deepEqual(selectEnv(['A', 'B_*', 'MISSING'], { A: '1', B_X: '2', B_Y: '3', BX: '4' }), { A: '1', B_X: '2', B_Y: '3' });
  });
});
