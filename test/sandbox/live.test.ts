/**
 * Escapes tried from inside a real sandbox: real bubblewrap (Debian package `bubblewrap`, which
 * .ci/run installs), real processes, a real tmux server and a real 9P socket outside it.
 * landrun is not installable here: its live test runs only where it is on PATH.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { createRamfs } from '../../examples/ramfs.js';
import { Server } from '../../src/ninep/server.js';
import { DEFAULT_POLICY_YAML } from '../../src/sandbox/default-policy.js';
import { parsePolicy, type Policy } from '../../src/sandbox/policy.js';
import { probe, type Probe } from '../../src/sandbox/providers.js';
import { findOnPath } from '../../src/sandbox/resolve.js';
import { SandboxRefused, wrap } from '../../src/sandbox/sandbox.js';
import { tempDir } from '../helpers.js';

const found = await probe();
const noBwrap = found.bwrap.usable ? false : `bubblewrap is not usable: ${found.bwrap.problem}`;
// landrun is a Go program, and where these tests were written no Go module proxy is reachable,
// so it cannot be installed there.
const noLandrun = found.landrun.usable
  ? false
  : 'landrun is not on PATH (it cannot be installed without a Go module proxy); to run this: go install github.com/landlock-lsm/landrun@v0.1.15, then put $(go env GOPATH)/bin on PATH';

interface Box {
  home: string;
  cwd: string;
  stateDir: string;
  env: NodeJS.ProcessEnv;
}

function makeBox(root: string): Box {
  const home = path.join(root, 'home');
  fs.mkdirSync(path.join(home, '.ssh'), { recursive: true });
  fs.writeFileSync(path.join(home, '.ssh', 'id_rsa'), 'PRIVATE KEY MATERIAL');
  const cwd = path.join(root, 'project');
  const stateDir = path.join(root, 'state', 'sessions', 'a1b2c3d4');
  fs.mkdirSync(cwd);
  fs.mkdirSync(path.join(stateDir, 'tmp'), { recursive: true });
  const env = { HOME: home, USER: 'tester', PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', TERM: 'xterm', AWS_SECRET_ACCESS_KEY: 'do-not-leak' };
  return { home, cwd, stateDir, env };
}

function policyFor(provider: string, network = ''): Policy {
  let text = DEFAULT_POLICY_YAML.replace('provider: auto', `provider: ${provider}`);
  if (network) text = text.replace(/^network:[\s\S]*?(?=^env:)/m, `network:\n${network}\n`);
  return parsePolicy(text, '/cfg/anvillm/sandbox.yaml');
}

function runInside(box: Box, policy: Policy, p: Probe, agent: string, args: string[], extraEnv: Record<string, string> = {}) {
  const w = wrap(policy, p, { cwd: box.cwd, stateDir: box.stateDir, agentPath: agent, env: box.env }, { agentArgs: args, inherited: Object.keys(extraEnv) });
  // In the session's directory, as tmux starts it: landrun has no chdir of its own.
  const r = spawnSync(w.argv[0]!, w.argv.slice(1), { cwd: w.cwd, env: { ...w.env, ...extraEnv }, encoding: 'utf8', timeout: 20000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, argv: w.argv, warnings: w.warnings };
}

/** As runInside, without blocking this process: for servers the test itself runs. */
function runInsideAsync(box: Box, policy: Policy, p: Probe, agent: string, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const w = wrap(policy, p, { cwd: box.cwd, stateDir: box.stateDir, agentPath: agent, env: box.env }, { agentArgs: args, inherited: [] });
  return new Promise((resolve) => {
    const child = spawn(w.argv[0]!, w.argv.slice(1), { cwd: w.cwd, env: w.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const sh = (box: Box, p: Probe, script: string, policy = policyFor('bwrap')) => runInside(box, policy, p, '/bin/sh', ['-c', script]);

describe('inside bubblewrap', { skip: noBwrap }, () => {
  let tmp: ReturnType<typeof tempDir>;
  let box: Box;

  before(() => {
    tmp = tempDir();
    box = makeBox(tmp.dir);
  });
  after(() => tmp.remove());

  it('the agent writes in its directory and runs tools from /usr/bin', () => {
    const r = sh(box, found, 'echo made inside > note.txt && ls /usr/bin >/dev/null && uname -s');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'Linux');
    assert.equal(fs.readFileSync(path.join(box.cwd, 'note.txt'), 'utf8'), 'made inside\n');
  });

  it('cannot read ~/.ssh/id_rsa', () => {
    const r = sh(box, found, 'cat "$HOME/.ssh/id_rsa"');
    assert.notEqual(r.status, 0);
    assert.ok(!r.stdout.includes('PRIVATE KEY'), 'the key did not leak');
  });

  it('cannot write /etc, the home directory, or anything else outside rw', () => {
    const marker = `anvillm-escape-${process.pid}`;
    // Under /tmp the sandbox has a private tmpfs: a write there lands in it, never in the real /tmp.
    const r = sh(box, found, `touch /etc/${marker}; echo $?; touch "$HOME/${marker}"; echo $?; touch /usr/${marker}; echo $?; touch ${tmp.dir}/${marker}`);
    assert.deepEqual(r.stdout.trim().split('\n'), ['1', '1', '1'], r.stderr);
    for (const p of [`/etc/${marker}`, path.join(box.home, marker), `/usr/${marker}`, path.join(tmp.dir, marker)]) assert.equal(fs.existsSync(p), false, p);
  });

  it("cannot rewrite its own sandbox policy, even when the policy grants all of HOME", () => {
    const cfg = path.join(box.home, '.config', 'anvillm');
    fs.mkdirSync(cfg, { recursive: true });
    fs.mkdirSync(path.join(box.home, 'work'), { recursive: true });
    fs.writeFileSync(path.join(cfg, 'sandbox.yaml'), 'general:\n  best_effort: false\n');
    const generous = parsePolicy('general:\n  provider: bwrap\nfilesystem:\n  rw: ["{HOME}"]\n  rox: [/usr, /lib, /lib64, /bin]\nenv: [HOME, PATH]\n', '/cfg/sandbox.yaml');
    const r = runInside(box, generous, found, '/bin/sh', ['-c', `echo pwned > "$HOME/work/notes"; echo "general: {best_effort: true}" > "$HOME/.config/anvillm/sandbox.yaml"`]);
    assert.notEqual(r.status, 0);
    assert.equal(fs.readFileSync(path.join(box.home, 'work', 'notes'), 'utf8'), 'pwned\n', 'the rest of HOME was writable, as granted');
    assert.equal(fs.readFileSync(path.join(cfg, 'sandbox.yaml'), 'utf8'), 'general:\n  best_effort: false\n');
    fs.rmSync(path.join(box.home, 'work'), { recursive: true });
  });

  // A tmux window inherits the server's environment; the daemon names those variables
  // (Tmux.inheritedEnv) and the sandbox unsets each one that is not listed.
  it('sees only the listed environment variables, not the ones its launcher inherited', () => {
    const r = runInside(box, policyFor('bwrap'), found, '/usr/bin/env', [], { INHERITED_SECRET: 'from-tmux-global-env' });
    assert.equal(r.status, 0, r.stderr);
    const names = r.stdout.trim().split('\n').map((l) => l.split('=')[0]).sort();
    assert.deepEqual(names, ['HOME', 'LANG', 'PATH', 'PWD', 'TERM', 'TMPDIR', 'USER'], 'the policy’s names, TMPDIR, and the PWD bwrap sets');
    assert.ok(!r.stdout.includes('do-not-leak') && !r.stdout.includes('from-tmux-global-env'));
  });

  it('network disabled blocks a TCP connect to a loopback server; unrestricted allows it', async () => {
    const server = net.createServer((s) => s.end('hello from outside\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const client = `require('net').connect(${port}, '127.0.0.1').on('data', d => process.stdout.write(d)).on('error', e => { console.log(e.code); process.exit(3); })`;
    try {
      const blocked = await runInsideAsync(box, policyFor('bwrap', '  enabled: false\n'), found, process.execPath, ['-e', client]);
      assert.equal(blocked.status, 3, blocked.stderr);
      assert.ok(!blocked.stdout.includes('hello'));
      const open = await runInsideAsync(box, policyFor('bwrap'), found, process.execPath, ['-e', client]);
      assert.equal(open.stdout, 'hello from outside\n', open.stderr);
    } finally {
      server.close();
    }
  });

  it("cannot reach the tmux server's socket (commands there would run outside the sandbox)", { skip: !findOnPath('tmux', process.env) && 'tmux is not installed' }, () => {
    const socket = path.join(tmp.dir, 'tmux-0', 'default');
    fs.mkdirSync(path.dirname(socket), { mode: 0o700 });
    execFileSync('tmux', ['-S', socket, '-f', '/dev/null', 'new-session', '-d', '-s', 'victim']);
    try {
      const escaped = path.join(box.cwd, 'escaped-via-tmux');
      const r = sh(box, found, `tmux -S ${socket} new-window 'touch ${escaped}'`);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /No such file or directory/, 'refused because the socket is not there, not for another reason');
      execFileSync('tmux', ['-S', socket, 'list-sessions']); // the server is alive: the attempt was really refused
      assert.equal(fs.existsSync(escaped), false, 'no command ran outside the sandbox');
    } finally {
      spawnSync('tmux', ['-S', socket, 'kill-server']);
    }
  });

  it('cannot reach the tmux server or $NAMESPACE even when its directory holds them', async () => {
    // `new claude /tmp`: the session's directory contains the tmux socket and the name space.
    const root = path.join(tmp.dir, 'shared-tmp');
    const socket = path.join(root, 'tmux-0', 'default');
    const ns = path.join(root, 'ns.tester.:0');
    fs.mkdirSync(path.dirname(socket), { recursive: true, mode: 0o700 });
    fs.mkdirSync(ns, { mode: 0o700 });
    const agentSocket = path.join(ns, 'agent');
    const listener = await new Server(createRamfs()).listen(`unix!${agentSocket}`);
    execFileSync('tmux', ['-S', socket, '-f', '/dev/null', 'new-session', '-d', '-s', 'victim']);
    const inside: Box = { ...box, cwd: root, env: { ...box.env, ANVILLM_TMUX_SOCKET: socket, NAMESPACE: ns } };
    try {
      const escaped = path.join(root, 'escaped');
      const viaTmux = runInside(inside, policyFor('bwrap'), found, '/bin/sh', ['-c', `tmux -S ${socket} new-window 'touch ${escaped}'`]);
      assert.notEqual(viaTmux.status, 0);
      assert.match(viaTmux.stderr, /No such file or directory/);
      const script = `require('net').connect(${JSON.stringify(agentSocket)}).on('connect', () => { console.log('CONNECTED'); process.exit(0); }).on('error', e => { console.log(e.code); process.exit(3); })`;
      const via9p = await runInsideAsync(inside, policyFor('bwrap'), found, process.execPath, ['-e', script]);
      assert.equal(via9p.stdout.trim(), 'ENOENT');
      assert.equal(fs.existsSync(escaped), false);
      execFileSync('tmux', ['-S', socket, 'list-sessions']);
    } finally {
      spawnSync('tmux', ['-S', socket, 'kill-server']);
      listener.close();
    }
  });

  it('cannot reach the 9P service of the daemon ($NAMESPACE/agent)', async () => {
    const ns = path.join(tmp.dir, 'ns.tester.:0');
    fs.mkdirSync(ns, { mode: 0o700 });
    const agentSocket = path.join(ns, 'agent');
    const listener = await new Server(createRamfs()).listen(`unix!${agentSocket}`);
    try {
      const probeScript = `require('net').connect(${JSON.stringify(agentSocket)}).on('connect', () => { console.log('CONNECTED'); process.exit(0); }).on('error', e => { console.log(e.code); process.exit(3); })`;
      const r = await runInsideAsync(box, policyFor('bwrap'), found, process.execPath, ['-e', probeScript]);
      assert.equal(r.status, 3, r.stdout + r.stderr);
      assert.equal(r.stdout.trim(), 'ENOENT');
    } finally {
      listener.close();
    }
  });
});

describe('a missing provider in strict mode', () => {
  it('refuses the session before any process starts', async () => {
    const nothing = await probe({ PATH: '/nonexistent' });
    assert.equal(nothing.bwrap.usable, false);
    assert.equal(nothing.landrun.usable, false);
    assert.throws(
      () => wrap(policyFor('auto'), nothing, { cwd: '/tmp', stateDir: '/s', agentPath: '/bin/sh', env: { HOME: '/h' } }, { agentArgs: [], inherited: [], dryRun: true }),
      SandboxRefused,
    );
  });
});

describe('inside landrun', { skip: noLandrun }, () => {
  it('cannot read ~/.ssh/id_rsa and writes in its directory', () => {
    const tmp = tempDir();
    try {
      const box = makeBox(tmp.dir);
      // best effort: landrun cannot keep the protected paths read-only (strict refuses: protected.test.ts).
      const policy = { ...policyFor('landrun'), bestEffort: true };
      const r = runInside(box, policy, found, '/bin/sh', ['-c', 'echo ok > f; cat "$HOME/.ssh/id_rsa"']);
      assert.ok(!r.stdout.includes('PRIVATE KEY'));
      assert.equal(fs.readFileSync(path.join(box.cwd, 'f'), 'utf8'), 'ok\n', 'the agent started in its own directory');
      assert.ok(r.warnings.some((w) => /landrun cannot keep protected paths read-only/.test(w)), r.warnings.join('\n'));
    } finally {
      tmp.remove();
    }
  });
});
