/** What each provider is told to do, and which provider a session gets; no sandbox is started here. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { DEFAULT_POLICY_YAML } from '../../src/sandbox/default-policy.js';
import { parsePolicy, type Policy } from '../../src/sandbox/policy.js';
import { bwrapArgv, landlockAbiFor, landrunArgv, type Probe } from '../../src/sandbox/providers.js';
import { type Resolved } from '../../src/sandbox/resolve.js';
import { chooseProvider, SandboxRefused, wrap } from '../../src/sandbox/sandbox.js';
import { tempDir } from '../helpers.js';

const FILE = '/home/u/.config/anvillm/sandbox.yaml';
const policy = (over: { provider?: string; bestEffort?: boolean } = {}): Policy =>
  parsePolicy(
    DEFAULT_POLICY_YAML.replace('provider: auto', `provider: ${over.provider ?? 'auto'}`).replace('best_effort: false', `best_effort: ${over.bestEffort ?? false}`),
    FILE,
  );
const withNetwork = (net: string): Policy => parsePolicy(`network:\n${net}`, FILE);

const granted: Resolved = {
  paths: [
    { path: '/dev/null', write: true, exec: false, exists: true, origin: 'x' },
    { path: '/home/u/.claude', write: true, exec: false, exists: true, origin: 'x' },
    { path: '/missing', write: true, exec: false, exists: false, origin: 'x' },
    { path: '/proc/self/maps', write: false, exec: false, exists: true, origin: 'x' },
    { path: '/tmp/work', write: true, exec: false, exists: true, origin: 'x' },
    { path: '/usr', write: false, exec: true, exists: true, origin: 'x' },
    { path: '/usr/lib/node_modules/agent', write: false, exec: true, exists: true, origin: 'x' },
  ],
  hidden: [],
  protection: { paths: [], sealed: [], released: [] },
  env: { HOME: '/home/u', ANTHROPIC_API_KEY: 'sk-secret-value' },
};
const launch = { cwd: '/tmp/work', agentPath: '/usr/bin/agent', agentArgs: ['--yolo'], inherited: ['HOME', 'SSH_AUTH_SOCK', 'AWS_SECRET'] };

function probeWith(over: { bwrap?: boolean; landrun?: boolean; unixScoped?: boolean }): Probe {
  return {
    bwrap: over.bwrap
      ? { name: 'bwrap', path: '/usr/bin/bwrap', version: 'bubblewrap 0.8.0', usable: true }
      : { name: 'bwrap', path: null, version: null, usable: false, problem: 'not installed (install: sudo apt-get install bubblewrap)' },
    landrun: over.landrun
      ? { name: 'landrun', path: '/go/bin/landrun', version: 'landrun 0.1.17', usable: true, unixScoped: over.unixScoped ?? false }
      : { name: 'landrun', path: null, version: null, usable: false, unixScoped: false, problem: 'not installed' },
    kernel: '6.8.0',
    landlockAbi: 4,
  };
}

describe('bubblewrap argv', () => {
  const argv = bwrapArgv('/usr/bin/bwrap', granted, launch, true);

  it('isolates everything, drops capabilities, detaches from the terminal, dies with its parent', () => {
    for (const flag of ['--unshare-all', '--share-net', '--die-with-parent', '--new-session']) assert.ok(argv.includes(flag), flag);
    assert.deepEqual(argv.slice(argv.indexOf('--cap-drop'), argv.indexOf('--cap-drop') + 2), ['--cap-drop', 'ALL']);
    assert.ok(!argv.includes('--dev-bind'), 'never --dev-bind: /dev/pts would expose every other pane');
    assert.deepEqual(argv.slice(argv.indexOf('--proc'), argv.indexOf('--proc') + 2), ['--proc', '/proc']);
    assert.deepEqual(argv.slice(argv.indexOf('--dev'), argv.indexOf('--dev') + 2), ['--dev', '/dev']);
  });

  it('binds what is granted, /tmp as a tmpfs first, parents before children, nothing missing or redundant', () => {
    const tmpfs = argv.indexOf('--tmpfs');
    assert.equal(argv[tmpfs + 1], '/tmp');
    assert.ok(tmpfs < argv.indexOf('/tmp/work'), 'the tmpfs comes before binds under /tmp');
    assert.deepEqual(argv.slice(argv.indexOf('/home/u/.claude') - 1, argv.indexOf('/home/u/.claude') + 2), ['--bind', '/home/u/.claude', '/home/u/.claude']);
    assert.deepEqual(argv.slice(argv.indexOf('/usr') - 1, argv.indexOf('/usr') + 2), ['--ro-bind', '/usr', '/usr']);
    assert.ok(!argv.includes('/missing'));
    assert.ok(!argv.includes('/usr/lib/node_modules/agent'), '/usr already covers it');
    assert.ok(!argv.includes('/proc/self/maps') && !argv.includes('/dev/null'), 'its own /proc and /dev provide these');
    assert.deepEqual(argv.slice(argv.indexOf('--remount-ro'), argv.indexOf('--remount-ro') + 2), ['--remount-ro', '/']);
  });

  it('runs the agent by path in its directory, unsets inherited names not granted, holds no secret', () => {
    assert.deepEqual(argv.slice(argv.indexOf('--')), ['--', '/usr/bin/agent', '--yolo']);
    assert.deepEqual(argv.slice(argv.indexOf('--chdir'), argv.indexOf('--chdir') + 2), ['--chdir', '/tmp/work']);
    const unset = argv.flatMap((a, i) => (a === '--unsetenv' ? [argv[i + 1]] : []));
    assert.deepEqual(unset, ['SSH_AUTH_SOCK', 'AWS_SECRET']);
    assert.ok(!argv.some((a) => a.includes('sk-secret-value')), 'no secret value in any argv');
    assert.ok(!bwrapArgv('/usr/bin/bwrap', granted, launch, false).includes('--share-net'));
  });
});

describe("keeping AnviLLM's own configuration read-only", () => {
  const inHome: Resolved = { ...granted, protection: { paths: [{ path: '/home/u/.config/anvillm', why: 'x', exists: true, placeholder: null }], sealed: [], released: [] } };

  it('bubblewrap binds it read-only after the writable grant that covers it', () => {
    const argv = bwrapArgv('/usr/bin/bwrap', inHome, launch, true);
    const at = argv.lastIndexOf('/home/u/.config/anvillm');
    assert.deepEqual(argv.slice(at - 2, at + 1), ['--ro-bind', '/home/u/.config/anvillm', '/home/u/.config/anvillm']);
    assert.ok(at > argv.indexOf('/home/u/.claude'));
  });
});

describe('hiding sockets that act outside the sandbox', () => {
  it('bubblewrap lays a tmpfs over each, after the binds, and gives back the grants inside it', () => {
    const r: Resolved = {
      ...granted,
      paths: [
        { path: '/tmp/work', write: true, exec: false, exists: true, origin: 'x' },
        { path: '/tmp/work/state/sessions/a1', write: true, exec: false, exists: true, origin: 'x' },
      ],
      hidden: ['/tmp/work/ns.u.:0', '/tmp/work/state'],
    };
    const argv = bwrapArgv('/usr/bin/bwrap', r, launch, true).join(' ');
    assert.match(argv, /--bind \/tmp\/work \/tmp\/work .*--tmpfs \/tmp\/work\/ns\.u\.:0 .*--tmpfs \/tmp\/work\/state --bind \/tmp\/work\/state\/sessions\/a1 \/tmp\/work\/state\/sessions\/a1/);
  });

  it('landrun cannot: strict refuses, naming the directory', () => {
    const tmp = tempDir();
    try {
      const ns = path.join(tmp.dir, 'ns');
      fs.mkdirSync(ns);
      const p = probeWith({ landrun: true, unixScoped: true });
      assert.throws(
        // Its directory's protected paths released: landrun refuses those first (protect.test.ts).
        () => wrap(parsePolicy(DEFAULT_POLICY_YAML.replace('provider: auto', 'provider: landrun').replace('unprotect: []', 'unprotect: ["{CWD}"]'), FILE), p, { cwd: tmp.dir, stateDir: path.join(tmp.dir, 's'), agentPath: process.execPath, env: { HOME: '/h', NAMESPACE: ns } }, { agentArgs: [], inherited: [], dryRun: true }),
        new RegExp(`landrun cannot hide ${ns} inside a grant`),
      );
    } finally {
      tmp.remove();
    }
  });
});

describe('the wrapped command carries its directory', () => {
  it('landrun has no chdir: the caller starts it in Wrapped.cwd, the session directory', () => {
    const tmp = tempDir();
    try {
      const w = wrap(policy({ provider: 'landrun', bestEffort: true }), probeWith({ landrun: true, unixScoped: true }), { cwd: tmp.dir, stateDir: path.join(tmp.dir, 's'), agentPath: process.execPath, env: { HOME: '/h' } }, { agentArgs: [], inherited: [], dryRun: true });
      assert.equal(w.provider, 'landrun');
      assert.equal(w.cwd, tmp.dir);
      assert.ok(!w.argv.includes('--chdir'));
    } finally {
      tmp.remove();
    }
  });
});

describe('landrun argv', () => {
  it('grants each path with its flag, parents first, and passes variables by name only', () => {
    const argv = landrunArgv('/go/bin/landrun', policy(), granted, launch, false);
    assert.equal(argv[0], '/go/bin/landrun');
    assert.ok(!argv.includes('--best-effort'));
    assert.deepEqual(argv.slice(1, 3), ['--log-level', 'error']);
    const pairs = argv.flatMap((a, i) => (/^--(ro|rox|rw|rwx)$/.test(a) ? [`${a} ${argv[i + 1]}`] : []));
    assert.deepEqual(pairs, ['--rw /dev/null', '--rw /home/u/.claude', '--ro /proc/self/maps', '--rw /tmp/work', '--rox /usr']);
    assert.ok(argv.includes('--unrestricted-network'));
    const envs = argv.flatMap((a, i) => (a === '--env' ? [argv[i + 1]] : []));
    assert.deepEqual(envs, ['ANTHROPIC_API_KEY', 'HOME']);
    assert.ok(!argv.some((a) => a.includes('sk-secret-value')));
    assert.deepEqual(argv.slice(argv.indexOf('--')), ['--', '/usr/bin/agent', '--yolo']);
  });

  it('restricts TCP to the listed ports, or to none when the network is disabled', () => {
    const argv = landrunArgv('/l', withNetwork('  unrestricted: false\n  connect_tcp: ["443", "3000-3002"]\n  bind_tcp: [8080]\n'), granted, launch, true);
    assert.ok(argv.includes('--best-effort'));
    assert.deepEqual(argv.slice(argv.indexOf('--connect-tcp'), argv.indexOf('--connect-tcp') + 2), ['--connect-tcp', '443,3000,3001,3002']);
    assert.deepEqual(argv.slice(argv.indexOf('--bind-tcp'), argv.indexOf('--bind-tcp') + 2), ['--bind-tcp', '8080']);
    const off = landrunArgv('/l', withNetwork('  enabled: false\n'), granted, launch, false);
    assert.ok(!off.includes('--unrestricted-network') && !off.includes('--connect-tcp'));
  });

  it('passes --ldd and --add-exec when the policy asks, and refuses a path with a comma', () => {
    const p = parsePolicy('advanced:\n  ldd: true\n  add_exec: true\ngeneral:\n  log_level: debug\n', FILE);
    const argv = landrunArgv('/l', p, granted, launch, false);
    assert.ok(argv.includes('--ldd') && argv.includes('--add-exec'));
    assert.deepEqual(argv.slice(1, 3), ['--log-level', 'debug']);
    const comma: Resolved = { env: {}, hidden: [], protection: { paths: [], sealed: [], released: [] }, paths: [{ path: '/a,b', write: false, exec: false, exists: true, origin: 'x' }] };
    assert.throws(() => landrunArgv('/l', p, comma, launch, false), /contains a comma/);
  });
});

describe('choosing a provider', () => {
  it('auto prefers bubblewrap, then landrun that controls unix sockets', () => {
    assert.equal(chooseProvider(policy(), probeWith({ bwrap: true, landrun: true, unixScoped: true })).provider, 'bwrap');
    assert.equal(chooseProvider(policy(), probeWith({ landrun: true, unixScoped: true })).provider, 'landrun');
    assert.equal(chooseProvider(policy({ provider: 'landrun' }), probeWith({ bwrap: true, landrun: true, unixScoped: true })).provider, 'landrun');
  });

  it('strict: no provider → refused, saying what is missing, how to install it, and what best_effort risks', () => {
    assert.throws(
      () => chooseProvider(policy(), probeWith({})),
      (e: unknown) => {
        assert.ok(e instanceof SandboxRefused);
        assert.match(e.message, /no provider can enforce .*sandbox\.yaml, so the agent was not started/);
        assert.match(e.message, /bubblewrap: not installed \(install: sudo apt-get install bubblewrap\)/);
        assert.match(e.message, /Fix: install bubblewrap/);
        assert.match(e.message, /best_effort: true .* NO sandbox, able to read and change all your files/);
        return true;
      },
    );
  });

  it('strict: landrun that cannot control unix sockets is refused, naming the escape', () => {
    assert.throws(() => chooseProvider(policy(), probeWith({ landrun: true })), /cannot stop the agent connecting to unix sockets by path: it could drive the tmux server/);
    assert.throws(() => chooseProvider(policy({ provider: 'bwrap' }), probeWith({ landrun: true, unixScoped: true })), /bubblewrap: not installed/);
  });

  it('strict: bubblewrap cannot express per-port rules', () => {
    const ports = parsePolicy('network:\n  unrestricted: false\n  connect_tcp: ["443"]\n', FILE);
    assert.throws(() => chooseProvider(ports, probeWith({ bwrap: true })), /bubblewrap cannot restrict TCP ports; install landrun or set network\.unrestricted/);
    assert.equal(chooseProvider(ports, probeWith({ bwrap: true, landrun: true, unixScoped: true })).provider, 'landrun');
  });

  it('best effort: the strongest available, with a warning; none at all says NO SANDBOX', () => {
    const none = chooseProvider(policy({ bestEffort: true }), probeWith({}));
    assert.equal(none.provider, 'none');
    assert.match(none.warnings[0]!, /NO SANDBOX/);
    const weak = chooseProvider(policy({ bestEffort: true }), probeWith({ landrun: true }));
    assert.equal(weak.provider, 'landrun');
    assert.match(weak.warnings[0]!, /unix sockets/);
  });

  it('wrap: unsandboxed best effort still gives only the listed environment, unsetting inherited names', () => {
    const w = wrap(
      policy({ bestEffort: true }),
      probeWith({}),
      { cwd: '/tmp', stateDir: '/s', agentPath: process.execPath, env: { HOME: '/h', PATH: '/usr/bin', SECRET: 'x' } },
      { agentArgs: ['-v'], inherited: ['AWS_SECRET', 'HOME'], dryRun: true },
    );
    assert.deepEqual(w.argv.slice(1), ['-u', 'AWS_SECRET', process.execPath, '-v']);
    assert.match(w.argv[0]!, /\/env$/);
    assert.deepEqual(Object.keys(w.env).sort(), ['HOME', 'PATH', 'TMPDIR']);
  });

  it('wrap refuses a provider installed where the agent may write (it could replace it)', () => {
    const p = probeWith({ bwrap: true });
    p.bwrap.path = '/tmp/work/bin/bwrap';
    assert.throws(
      () => wrap(policy(), p, { cwd: '/tmp', stateDir: '/s', agentPath: process.execPath, env: { HOME: '/h' } }, { agentArgs: [], inherited: [], dryRun: true }),
      /\/tmp\/work\/bin\/bwrap lies in \/tmp, which the agent may write/,
    );
  });

  it('forcing an unusable provider names the setting, not an install', () => {
    assert.throws(() => chooseProvider(policy({ provider: 'landrun' }), probeWith({ bwrap: true })), /Fix: set general\.provider: auto/);
  });
});

describe('Landlock ABI from the kernel release', () => {
  it('maps releases to ABI versions', () => {
    assert.equal(landlockAbiFor('5.10.0'), null);
    assert.equal(landlockAbiFor('5.15.0-91-generic'), 1);
    assert.equal(landlockAbiFor('6.8.0'), 4);
    assert.equal(landlockAbiFor('6.10.3'), 5);
    assert.equal(landlockAbiFor('6.12.1'), 6);
  });
});
