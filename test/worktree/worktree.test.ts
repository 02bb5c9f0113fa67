/**
 * Worktree sessions end to end: real git, real tmux on a private socket, real bubblewrap, and an
 * agent that runs what it is told — a bash loop defined in backends.yaml (the fake agent only
 * answers; these tests need an agent that writes files and runs git, as real ones do). Two
 * sessions on one repository, commits and escapes from inside the sandbox, diff, kill, explicit
 * removal and re-adoption, through agent/ and the anvillm command.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { agentTree } from '../../src/agentfs/agentfs.js';
import { Client } from '../../src/ninep/client.js';
import { ORDWR } from '../../src/ninep/constants.js';
import { post, type Posted } from '../../src/ninep/namespace.js';
import { Server } from '../../src/ninep/server.js';
import type { SessionManager } from '../../src/session/manager.js';
import { createWorktree } from '../../src/worktree/worktree.js';
import { fakeEnv, type FakeEnv } from '../fixtures/fake-env.js';
import { needs, repoRoot, until } from '../helpers.js';

/** The agent: each line it reads is run by bash; then "done <status>" and its prompt again. */
const SCRIPT = String.raw`echo "Shell agent (runs each line)"
while true; do
  printf 'ready> '
  IFS= read -r line || exit 0
  eval "$line" 2>&1
  echo "done $?"
done`;

const BACKEND = `  shell:
    label: Shell
    command: [bash, -c, ${JSON.stringify(SCRIPT)}, shell]
    startup: {timeout: 10s, ready: "^ready>$"}
    state: {method: quiet, quiet_ms: 300, ready: "^ready>$"}
`;

const cli = path.join(repoRoot, 'dist', 'src', 'cli', 'anvillm.js');

describe('worktree sessions', { skip: needs('tmux', 'bwrap') }, () => {
  let world: FakeEnv;
  let env: NodeJS.ProcessEnv;
  let manager: SessionManager;
  let posted: Posted;
  let repo = '';
  let outside = '';

  const gitIn = (dir: string, ...args: string[]) => execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8', env: { PATH: env['PATH'], HOME: env['HOME'] } }).trim();
  async function anvillm(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    try {
      const r = await promisify(execFile)(process.execPath, [cli, ...args], { env });
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, out: x.stdout, err: x.stderr };
    }
  }
  async function withAgent<T>(f: (c: Client) => Promise<T>): Promise<T> {
    const c = await Client.dial('agent', { env });
    try {
      return await f(c);
    } finally {
      c.close();
    }
  }
  const read = (who: string, file: string) => withAgent(async (c) => (await c.readFile(`${who}/${file}`)).toString());
  /** A ctl command and what it answered. */
  const ctl = (file: string, command: string) =>
    withAgent(async (c) => {
      const f = await c.open(file, ORDWR);
      try {
        await f.write(`${command}\n`);
        return (await f.read()).toString().trim();
      } finally {
        await f.close();
      }
    });
  /** Runs a shell line in the session's agent and returns its output (up to "done <status>"). */
  async function run(who: string, line: string): Promise<string> {
    const s = manager.get(who)!;
    await until(() => s.state === 'idle', () => `${who} idle (${s.state}: ${s.err()})`);
    s.prompt(line);
    await until(() => s.state === 'idle' && /done \d+$/.test(s.out()), `${who} to run: ${line}`);
    return s.out();
  }

  before(async () => {
    world = fakeEnv();
    // Not under /tmp: inside bubblewrap /tmp is a private tmpfs, where a write beside a bound
    // path lands (and vanishes) instead of failing as it does anywhere else.
    outside = fs.mkdtempSync('/var/tmp/anvillm-test-');
    env = Object.assign(world.env, { NAMESPACE: path.join(world.root, 'ns'), XDG_DATA_HOME: path.join(outside, 'data') });
    fs.appendFileSync(path.join(env['HOME']!, '.config', 'anvillm', 'backends.yaml'), BACKEND);
    repo = path.join(outside, 'repo');
    fs.mkdirSync(repo);
    gitIn(repo, 'init', '-q', '-b', 'main');
    gitIn(repo, 'config', 'user.name', 'Tester');
    gitIn(repo, 'config', 'user.email', 'tester@example.com');
    fs.writeFileSync(path.join(repo, 'shared.txt'), 'original\n');
    gitIn(repo, 'add', '.');
    gitIn(repo, 'commit', '-qm', 'first');
    manager = world.manager();
    posted = await post('agent', new Server(agentTree(manager)), env);
  });
  after(async () => {
    await posted.close();
    await manager.killAll().catch(() => {});
    await manager.close();
    world.remove();
    fs.rmSync(outside, { recursive: true, force: true });
  });

  it('two sessions on one repository change the same file, each in its own worktree on its own branch', async () => {
    const one = await ctl('ctl', `new shell ${repo} one worktree`);
    const made = await anvillm('new', 'shell', repo, '--alias', 'two', '--worktree', 'feature/two');
    assert.equal(made.code, 0, made.err);
    const [s1, s2] = [manager.get(one)!, manager.get('two')!];
    const base = gitIn(repo, 'rev-parse', 'HEAD');
    assert.equal(await read('one', 'branch'), 'anvillm/one\n');
    assert.equal(await read('two', 'branch'), 'feature/two\n');
    assert.equal(await read('one', 'base'), `${base}\n`);
    assert.equal(path.dirname(s1.cwd), path.join(outside, 'data', 'anvillm', 'worktrees'));
    assert.equal(await read('one', 'cwd'), `${s1.cwd}\n`);
    assert.match(await run('one', 'echo from one > shared.txt'), /done 0$/);
    assert.match(await run('two', 'echo from two > shared.txt'), /done 0$/);
    assert.equal(fs.readFileSync(path.join(s1.cwd, 'shared.txt'), 'utf8'), 'from one\n');
    assert.equal(fs.readFileSync(path.join(s2.cwd, 'shared.txt'), 'utf8'), 'from two\n');
    assert.equal(fs.readFileSync(path.join(repo, 'shared.txt'), 'utf8'), 'original\n', 'the checkout is untouched');
    const listed = gitIn(repo, 'worktree', 'list', '--porcelain');
    for (const [s, b] of [[s1, 'anvillm/one'], [s2, 'feature/two']] as const) assert.ok(listed.includes(`worktree ${s.cwd}\nHEAD ${base}\nbranch refs/heads/${b}`), listed);
  });

  it('an agent commits to its branch from inside the sandbox', async () => {
    assert.match(await run('two', 'git add -A && git commit -qm "two was here" && echo committed'), /committed\ndone 0$/);
    assert.equal(gitIn(repo, 'log', '-1', '--format=%s', 'feature/two'), 'two was here');
    assert.equal(gitIn(repo, 'log', '-1', '--format=%s', 'main'), 'first', "the user's branch did not move");
  });

  it("cannot write the user's checkout, other branches, git's hooks and config, or where git looks", async () => {
    const wt = manager.get('one')!.cwd;
    const attempts = [
      `echo evil > ${repo}/shared.txt`,
      `echo evil > ${repo}/new.txt`,
      `echo evil > ${manager.get('two')!.cwd}/shared.txt`,
      `git update-ref refs/heads/main HEAD~0`,
      `mkdir -p ${repo}/.git/hooks && echo evil > ${repo}/.git/hooks/post-checkout`,
      `echo evil >> ${repo}/.git/config`,
      `echo 'gitdir: /tmp' > ${wt}/.git`,
      `echo evil > $(git rev-parse --git-dir)/commondir`,
      `echo '[core]fsmonitor=evil' > $(git rev-parse --git-dir)/config.worktree`,
      `echo evil > ${repo}/.git/objects/info/commit-graph`,
      `touch ${repo}/.git/objects/pack/evil.pack`,
    ];
    for (const a of attempts) assert.doesNotMatch(await run('one', a), /done 0$/, `refused: ${a}`);
    assert.equal(fs.readFileSync(path.join(repo, 'shared.txt'), 'utf8'), 'original\n');
    assert.ok(!fs.existsSync(path.join(repo, 'new.txt')));
    assert.equal(gitIn(repo, 'log', '-1', '--format=%s', 'main'), 'first');
    assert.doesNotMatch(fs.readFileSync(path.join(repo, '.git', 'config'), 'utf8'), /evil/);
    assert.match(fs.readFileSync(path.join(wt, '.git'), 'utf8'), /^gitdir: .*\.git\/worktrees\//);
    const check = await anvillm('sandbox', 'check', '--cwd', wt, '--agent', 'bash');
    assert.equal(check.code, 0, check.err);
    assert.match(check.out, /^worktree: {2}.* \(branch anvillm\/one, from /m);
    assert.match(check.out, new RegExp(`^  rw +${repo}/\\.git/objects +git objects`, 'm'));
    assert.match(check.out, new RegExp(`^  ro +${repo}/\\.git +the repository's git data`, 'm'));
    assert.doesNotMatch(check.out, new RegExp(`^  rw +${repo}/\\.git/hooks`, 'm'));
  });

  it('a policy granting more (the whole disk area of the checkout, read-write) still leaves the checkout and other worktrees read-only', async () => {
    const policy = path.join(env['HOME']!, '.config', 'anvillm', 'sandbox.yaml');
    const saved = fs.readFileSync(policy, 'utf8');
    fs.writeFileSync(policy, saved.replace('  rw:\n', `  rw:\n    - ${outside}\n`));
    try {
      const id = await ctl('ctl', `new shell ${repo} wide worktree`);
      for (const a of [`echo evil > ${repo}/shared.txt`, `echo evil > ${manager.get('two')!.cwd}/shared.txt`, `touch ${repo}/.git/hooks/x`]) {
        assert.match(await run(id, a), /Read-only file system\ndone 1$/, a);
      }
      assert.match(await run(id, 'echo wide > shared.txt && git commit -qam wide && echo committed'), /committed\ndone 0$/);
      assert.equal(gitIn(repo, 'log', '-1', '--format=%s', 'anvillm/wide'), 'wide');
      assert.equal(fs.readFileSync(path.join(repo, 'shared.txt'), 'utf8'), 'original\n');
      assert.equal(await ctl(`${id}/ctl`, 'kill'), 'branch anvillm/wide kept; its clean worktree removed');
    } finally {
      fs.writeFileSync(policy, saved);
    }
  });

  it('diff: the commits and the uncommitted work since the branch point, new files too', async () => {
    await run('two', 'echo later >> shared.txt && echo brand new > added.txt');
    const diff = await read('two', 'diff');
    assert.match(diff, /^diff --git a\/added\.txt b\/added\.txt\nnew file mode 100644\n/m);
    assert.match(diff, /^-original\n\+from two\n\+later$/m, 'the commit and the uncommitted line');
    const cli = await anvillm('diff', 'two');
    assert.deepEqual([cli.code, cli.out], [0, diff], cli.err);
    const plain = await ctl('ctl', `new shell ${world.project('plain')} plain`);
    const none = await anvillm('diff', plain);
    assert.equal(none.code, 1);
    assert.match(none.err, /is not a worktree session/);
    await ctl(`${plain}/ctl`, 'kill');
  });

  let twoCwd = '';
  it('kill keeps the branch, and the worktree while it has uncommitted changes, saying where', async () => {
    const two = manager.get('two')!;
    twoCwd = two.cwd;
    const said = await ctl('two/ctl', 'kill');
    assert.equal(said, `branch feature/two kept; worktree kept, it has uncommitted changes: ${two.cwd}`);
    assert.ok(fs.existsSync(path.join(two.cwd, 'added.txt')));
    await run('one', 'git checkout -q -- . && git commit -q --allow-empty -m "one done"');
    const wt = manager.get('one')!.cwd;
    assert.equal(await ctl('one/ctl', 'kill'), 'branch anvillm/one kept; its clean worktree removed');
    assert.ok(!fs.existsSync(wt));
    assert.equal(gitIn(repo, 'log', '-1', '--format=%s', 'anvillm/one'), 'one done');
    const listed = gitIn(repo, 'worktree', 'list', '--porcelain');
    assert.ok(!listed.includes(wt) && listed.includes(two.cwd), listed);
    // Killed, it has left agent/ (DESIGN §2 Lifetimes); its kept worktree holds the work.
    await assert.rejects(read(two.id, 'diff'), /file does not exist/);
    assert.match(gitIn(two.cwd, 'status', '--porcelain'), /added\.txt/);
  });

  it('kill keeps a worktree whose detached HEAD holds commits on no branch', async () => {
    const id = await ctl('ctl', `new shell ${repo} detached worktree`);
    const wt = manager.get(id)!.cwd;
    assert.match(await run(id, 'git checkout -q --detach && git commit -q --allow-empty -m lonely && echo ok'), /ok\ndone 0$/);
    assert.equal(await ctl(`${id}/ctl`, 'kill'), `branch anvillm/detached kept; worktree kept, it has commits on no branch (a detached HEAD): ${wt}`);
    const listed = await anvillm('worktree', 'list');
    assert.match(listed.out, new RegExp(`^${wt}\tanvillm/detached\tdetached\t${repo}$`, 'm'));
    const refused = await anvillm('worktree', 'remove', wt);
    assert.match(refused.err, /has commits on no branch \(a detached HEAD\): put them on a branch first/);
    gitIn(wt, 'checkout', '-q', 'anvillm/detached');
    assert.equal((await anvillm('worktree', 'remove', wt)).code, 0);
  });

  it('removing a worktree is explicit, and refused while it is dirty', async () => {
    const wt = twoCwd; // its session was killed, and has left
    const refused = await anvillm('worktree', 'remove', wt);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /^anvillm worktree: worktree .* has uncommitted changes: commit or discard them first/);
    const listed = await anvillm('worktree', 'list');
    assert.match(listed.out, new RegExp(`^${wt}\tfeature/two\tdirty\t${repo}$`, 'm'));
    gitIn(wt, 'checkout', '-q', '--', '.');
    fs.rmSync(path.join(wt, 'added.txt'));
    const removed = await anvillm('worktree', 'remove', wt);
    assert.deepEqual([removed.code, removed.out.trim()], [0, `removed ${wt}; branch feature/two kept`], removed.err);
    assert.ok(!fs.existsSync(wt));
    assert.ok(!gitIn(repo, 'worktree', 'list', '--porcelain').includes(wt));
    assert.equal(gitIn(repo, 'log', '-1', '--format=%s', 'feature/two'), 'two was here');
  });

  it('refuses, saying why, and leaves nothing behind: not a repository, a bare one, a branch that exists, no git', async () => {
    const before = gitIn(repo, 'worktree', 'list');
    const bare = world.project('bare.git');
    gitIn(bare, 'init', '-q', '--bare');
    const refusals: [string, RegExp][] = [
      [`new shell ${world.project('nogit')} worktree`, /^not a git repository: /],
      [`new shell ${bare} worktree`, /^a bare repository has no checkout to branch from: /],
      [`new shell ${repo} worktree=main`, /^branch "main" already exists: give another name/],
      [`new shell ${repo} worktree=bad..name`, /^bad branch name "bad\.\.name"/],
    ];
    for (const [command, error] of refusals) await assert.rejects(ctl('ctl', command), (e: Error) => error.test(e.message));
    // Refused by the sandbox after the worktree was made: the worktree and its branch go again.
    const policy = path.join(env['HOME']!, '.config', 'anvillm', 'sandbox.yaml');
    const saved = fs.readFileSync(policy, 'utf8');
    fs.writeFileSync(policy, saved.replace('provider: auto', 'provider: landrun'));
    try {
      await assert.rejects(ctl('ctl', `new shell ${repo} worktree=refused`), /sandbox/);
    } finally {
      fs.writeFileSync(policy, saved);
    }
    assert.equal(gitIn(repo, 'branch', '--list', 'refused'), '');
    assert.deepEqual(fs.readdirSync(path.join(outside, 'data', 'anvillm', 'worktrees')), [], 'no worktree, no record');
    // No git on the daemon's PATH.
    await assert.rejects(createWorktree({ ...env, PATH: '/nonexistent' }, repo, 'deadbeef', 'anvillm/x'), /^GitError: git is not installed: worktree sessions need it/);
    assert.equal(gitIn(repo, 'worktree', 'list'), before);
    assert.equal(gitIn(repo, 'branch', '--list', 'anvillm/x'), '');
    assert.equal(gitIn(repo, 'branch', '--list', 'x'), '');
  });

  it('a restarted daemon re-adopts worktree sessions', async () => {
    const id = await ctl('ctl', `new shell ${repo} again worktree`);
    await run('again', 'echo again > shared.txt');
    await posted.close();
    await manager.close(); // the daemon goes; the agent runs on in tmux
    manager = world.manager();
    await manager.adopt();
    posted = await post('agent', new Server(agentTree(manager)), env);
    assert.equal(await read(id, 'branch'), 'anvillm/again\n');
    assert.match(await read(id, 'diff'), /^\+again$/m);
    assert.match(await run('again', 'git commit -qam again && echo ok'), /ok\ndone 0$/);
    const killed = await anvillm('kill', 'again');
    assert.deepEqual([killed.code, killed.out], [0, 'branch anvillm/again kept; its clean worktree removed\n'], killed.err);
    assert.equal(gitIn(repo, 'log', '-1', '--format=%s', 'anvillm/again'), 'again');
  });
});
