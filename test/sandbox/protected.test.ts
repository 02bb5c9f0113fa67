/**
 * Nothing written inside runs outside (issue 12): inside real bubblewrap with the default policy,
 * each route by which a session could plant a command that runs later OUTSIDE the sandbox is
 * tried, and the host is checked afterwards — the file unchanged, and the command not run when
 * the program that would run it (real git) is run on the host. Ordinary work still works.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { DEFAULT_POLICY_YAML } from '../../src/sandbox/default-policy.js';
import { parsePolicy, type Policy } from '../../src/sandbox/policy.js';
import { probe, type Probe } from '../../src/sandbox/providers.js';
import { SandboxRefused, wrap } from '../../src/sandbox/sandbox.js';
import { tempDir } from '../helpers.js';

const found = await probe();
const skip = found.bwrap.usable ? false : `bubblewrap is not usable: ${found.bwrap.problem}`;

const policyOf = (unprotect = '[]'): Policy =>
  parsePolicy(DEFAULT_POLICY_YAML.replace('provider: auto', 'provider: bwrap').replace('unprotect: []', `unprotect: ${unprotect}`), '/cfg/anvillm/sandbox.yaml');

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@x', '-c', 'protocol.file.allow=always', ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

interface World {
  root: string;
  home: string;
  repo: string;
  env: NodeJS.ProcessEnv;
  /** Runs `script` with /bin/sh inside the session's sandbox (cwd: the session's directory). */
  inside(script: string, cwd?: string, policy?: Policy): { status: number | null; stdout: string; stderr: string };
  /** A file a planted command would create: it must never appear. */
  mark: string;
}

function world(root: string): World {
  const home = path.join(root, 'home');
  const repo = path.join(root, 'repo');
  const mark = path.join(root, 'RAN-OUTSIDE');
  for (const d of ['.claude', '.codex', '.gemini', '.config/anvillm']) fs.mkdirSync(path.join(home, d), { recursive: true });
  fs.writeFileSync(path.join(home, '.bashrc'), '# the user’s\n');
  fs.writeFileSync(path.join(home, '.claude', 'settings.json'), '{"theme": "dark"}\n');
  fs.writeFileSync(path.join(home, '.codex', 'config.toml'), 'model = "m"\n');
  fs.writeFileSync(path.join(home, '.claude', 'CLAUDE.md'), 'the user’s instructions\n');
  // A submodule, from a local repository.
  const lib = path.join(root, 'lib');
  fs.mkdirSync(lib);
  git(lib, 'init', '-q');
  fs.writeFileSync(path.join(lib, 'l.txt'), 'lib\n');
  git(lib, 'add', '.');
  git(lib, 'commit', '-qm', 'lib');
  fs.mkdirSync(repo);
  git(repo, 'init', '-q');
  fs.writeFileSync(path.join(repo, 'a.txt'), 'one\n');
  fs.writeFileSync(path.join(repo, '.mcp.json'), '{"mcpServers": {}}\n');
  git(repo, 'submodule', 'add', '-q', lib, 'sub');
  git(repo, 'add', '.');
  git(repo, 'commit', '-qm', 'first');
  const env = { HOME: home, USER: 'tester', PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', TERM: 'xterm' };
  const stateDir = path.join(root, 'state', 'anvillm', 'sessions', 'a1b2c3d4');
  fs.mkdirSync(stateDir, { recursive: true });
  const inside = (script: string, cwd = repo, policy = policyOf()) => {
    const w = wrap(policy, found, { cwd, stateDir, agentPath: '/bin/sh', env }, { agentArgs: ['-c', script], inherited: [] });
    const r = spawnSync(w.argv[0]!, w.argv.slice(1), { cwd: w.cwd, env: w.env, encoding: 'utf8', timeout: 20_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  return { root, home, repo, env, inside, mark };
}

/** Snapshot of files, to compare after an attempt. */
const read = (...files: string[]) => files.map((f) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : null));

describe('nothing written inside runs outside (real bubblewrap, real git)', { skip }, () => {
  let tmp: ReturnType<typeof tempDir>;
  let w: World;
  before(() => {
    tmp = tempDir();
    w = world(tmp.dir);
  });
  after(() => tmp.remove());

  it('ordinary work: an edit and a commit with real git inside the sandbox land in the repository', () => {
    const r = w.inside('echo two >> a.txt && echo new > b.txt && git -c user.name=agent -c user.email=a@x add -A && git -c user.name=agent -c user.email=a@x commit -qm "agent work" && echo done');
    assert.equal(r.stdout.trim(), 'done', r.stderr);
    assert.equal(git(w.repo, 'log', '--format=%s %an', '-1').trim(), 'agent work agent');
    assert.equal(fs.readFileSync(path.join(w.repo, 'b.txt'), 'utf8'), 'new\n');
  });

  it('git fsmonitor and hooksPath: .git/config stays as it was, and git on the host runs nothing', () => {
    const config = path.join(w.repo, '.git', 'config');
    const before = read(config);
    const r = w.inside(`git config core.fsmonitor "touch ${w.mark}"; git config core.hooksPath /tmp; echo "[core] fsmonitor = touch ${w.mark}" >> .git/config; cp .git/config /tmp/c && mv /tmp/c .git/config`);
    assert.notEqual(r.status, 0);
    assert.deepEqual(read(config), before);
    git(w.repo, 'status');
    assert.equal(fs.existsSync(w.mark), false, 'git status on the host ran nothing');
  });

  it('a hook, a commondir redirect, or a renamed .git: git on the host runs no planted hook', () => {
    const hook = `#!/bin/sh\ntouch ${w.mark}\n`;
    const r = w.inside(
      [
        `printf '${hook}' > .git/hooks/post-checkout; chmod +x .git/hooks/post-checkout`,
        // A git directory of its own, with the hook, then git sent there.
        `mkdir -p evil/hooks && printf '${hook}' > evil/hooks/post-checkout && chmod +x evil/hooks/post-checkout && cp .git/config evil/config; echo ../evil > .git/commondir`,
        'mv .git .git-old',
      ].join('; '),
    );
    assert.notEqual(r.status, 0);
    assert.equal(fs.existsSync(path.join(w.repo, '.git', 'hooks', 'post-checkout')), false);
    assert.equal(fs.readFileSync(path.join(w.repo, '.git', 'commondir'), 'utf8'), '.\n', 'the placeholder: git’s own directory');
    git(w.repo, 'checkout', '-q', '-b', 'other');
    assert.equal(fs.existsSync(w.mark), false, 'git checkout on the host ran no hook');
    assert.equal(git(w.repo, 'rev-parse', '--abbrev-ref', 'HEAD').trim(), 'other');
    fs.rmSync(path.join(w.repo, 'evil'), { recursive: true, force: true });
  });

  it("a submodule's hook, even by renaming its git directory away first", () => {
    const modules = path.join(w.repo, '.git', 'modules', 'sub');
    const r = w.inside(
      `printf '#!/bin/sh\\ntouch ${w.mark}\\n' > .git/modules/sub/hooks/post-checkout; mv .git/modules/sub .git/modules/gone; mv .git/modules .git/m2`,
    );
    assert.notEqual(r.status, 0);
    assert.ok(fs.existsSync(path.join(modules, 'HEAD')), 'the submodule’s git directory is where it was');
    assert.equal(fs.existsSync(path.join(modules, 'hooks', 'post-checkout')), false);
    git(path.join(w.repo, 'sub'), 'checkout', '-q', '-b', 'x');
    assert.equal(fs.existsSync(w.mark), false);
  });

  it('git init where there is no repository: refused; the empty .git left is no repository to git', () => {
    const plain = path.join(w.root, 'plain');
    fs.mkdirSync(plain);
    const r = w.inside(`git init -q && git config core.fsmonitor "touch ${w.mark}"`, plain);
    assert.notEqual(r.status, 0);
    assert.deepEqual(fs.readdirSync(path.join(plain, '.git')), []);
    const outside = spawnSync('git', ['status'], { cwd: plain, encoding: 'utf8', env: { ...process.env, GIT_CEILING_DIRECTORIES: w.root } });
    assert.match(outside.stderr, /not a git repository/);
    assert.equal(fs.existsSync(w.mark), false);
  });

  it('Claude Code project settings and .mcp.json: neither written nor made', () => {
    const mcp = path.join(w.repo, '.mcp.json');
    const before = read(mcp);
    const r = w.inside(`mkdir -p .claude; echo '{"hooks":{}}' > .claude/settings.json; echo '{"mcpServers":{"x":{"command":"touch"}}}' > .mcp.json`);
    assert.notEqual(r.status, 0);
    assert.deepEqual(read(mcp), before);
    assert.deepEqual(fs.readdirSync(path.join(w.repo, '.claude')), [], 'the placeholder stays empty');
  });

  it("the agents' homes: Claude, Codex and Gemini settings stay as they were; their records stay writable", () => {
    const files = ['.claude/settings.json', '.codex/config.toml', '.gemini/settings.json', '.claude/CLAUDE.md'].map((f) => path.join(w.home, f));
    const before = read(...files);
    const r = w.inside(
      [
        `echo '{"hooks":{"Stop":[{"hooks":[{"type":"command","command":"touch ${w.mark}"}]}]}}' > ~/.claude/settings.json`,
        `echo 'notify = ["touch", "${w.mark}"]' >> ~/.codex/config.toml`,
        `echo '{"hooks":{}}' > ~/.gemini/settings.json`,
        'echo obey > ~/.claude/CLAUDE.md',
        'mkdir -p ~/.claude/projects/p && echo record > ~/.claude/projects/p/t.jsonl && echo records-ok',
      ].join('; '),
    );
    assert.match(r.stdout, /records-ok/, r.stderr);
    assert.deepEqual([0, 1, 3].map((i) => read(files[i]!)[0]), [0, 1, 3].map((i) => before[i]));
    assert.equal(fs.readFileSync(files[2]!, 'utf8'), '{}\n', 'an absent settings.json: the neutral placeholder');
  });

  it('a session whose directory is HOME: .bashrc unchanged, no new start-up file, work in HOME still possible', () => {
    fs.mkdirSync(path.join(w.home, 'notes'), { recursive: true });
    const r = w.inside(`echo "touch ${w.mark}" >> ~/.bashrc; echo "touch ${w.mark}" > ~/.bash_profile; echo "touch ${w.mark}" > ~/.zshenv; mkdir -p ~/.config/git; echo ok > ~/notes/n.txt && echo wrote`, w.home);
    assert.match(r.stdout, /wrote/, r.stderr);
    assert.equal(fs.readFileSync(path.join(w.home, '.bashrc'), 'utf8'), '# the user’s\n');
    for (const f of ['.bash_profile', '.zshenv']) assert.equal(fs.existsSync(path.join(w.home, f)), false, f);
    assert.equal(fs.readFileSync(path.join(w.home, 'notes', 'n.txt'), 'utf8'), 'ok\n');
  });

  it('a linked worktree (a .git link file) in the session directory: link, its git directory and the main hooks stay', () => {
    const wt = path.join(w.root, 'wt');
    git(w.repo, 'worktree', 'add', '-q', wt);
    const link = path.join(wt, '.git');
    const admin = path.join(w.repo, '.git', 'worktrees', 'wt');
    const before = read(link, path.join(admin, 'commondir'));
    const r = w.inside(`echo "gitdir: ${w.root}/evil" > wt/.git; echo ../evil > repo/.git/worktrees/wt/commondir; printf '#!/bin/sh\ntouch ${w.mark}\n' > repo/.git/hooks/post-commit`, w.root);
    assert.notEqual(r.status, 0);
    assert.deepEqual(read(link, path.join(admin, 'commondir')), before);
    git(wt, 'commit', '-q', '--allow-empty', '-m', 'host');
    assert.equal(fs.existsSync(w.mark), false);
  });

  it('a protected name planted as a symlink in an earlier session reveals nothing', () => {
    fs.mkdirSync(path.join(w.home, '.ssh'), { recursive: true });
    fs.writeFileSync(path.join(w.home, '.ssh', 'id_rsa'), 'PRIVATE KEY');
    const plain = path.join(w.root, 'linked');
    fs.mkdirSync(plain);
    fs.symlinkSync(path.join(w.home, '.ssh'), path.join(plain, '.idea'));
    const r = w.inside('cat .idea/id_rsa', plain);
    assert.notEqual(r.status, 0);
    assert.ok(!r.stdout.includes('PRIVATE KEY'));
  });

  it('filesystem.unprotect releases a path, and only that one', () => {
    const r = w.inside('mkdir -p .vscode/x && echo "{}" > .vscode/tasks.json && echo released; echo x > .idea/y', w.repo, policyOf('["{CWD}/.vscode"]'));
    assert.match(r.stdout, /released/, r.stderr);
    assert.ok(fs.existsSync(path.join(w.repo, '.vscode', 'tasks.json')));
    assert.equal(fs.existsSync(path.join(w.repo, '.idea', 'y')), false);
  });
});

describe('landrun cannot keep them read-only (Landlock only adds rights)', () => {
  it('strict mode refuses in one short error that names a path and the fix', () => {
    const tmp = tempDir();
    try {
      fs.mkdirSync(path.join(tmp.dir, '.git', 'hooks'), { recursive: true });
      const landrun: Probe = { ...found, landrun: { name: 'landrun', path: '/usr/local/bin/landrun', version: 'landrun 0.1.18', usable: true, unixScoped: true } };
      const policy = parsePolicy(DEFAULT_POLICY_YAML.replace('provider: auto', 'provider: landrun'), '/cfg/anvillm/sandbox.yaml');
      const attempt = () => wrap(policy, landrun, { cwd: tmp.dir, stateDir: path.join(tmp.dir, 's'), agentPath: '/bin/sh', env: { HOME: path.join(tmp.dir, 'h') } }, { agentArgs: [], inherited: [], dryRun: true });
      assert.throws(attempt, (e: Error) => {
        assert.ok(e instanceof SandboxRefused);
        assert.match(e.message, /^sandbox: landrun cannot keep \S+ read-only: install bubblewrap/);
        assert.ok(Buffer.byteLength(e.message) <= 127, `${Buffer.byteLength(e.message)} bytes: ${e.message}`);
        return true;
      });
    } finally {
      tmp.remove();
    }
  });
});
