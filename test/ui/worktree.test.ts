/**
 * Assist and worktree sessions: `Fake -w <dir>` and `Fake -b <branch> <dir>` in /AnviLLM/'s tag
 * start sessions in new worktrees; a worktree session's chat tag has Diff, which opens its changes;
 * Kill says what was kept. Real git, real daemon, the fake acme.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { needs, until } from '../helpers.js';
import { assistWorld, type AssistWorld } from './world.js';

describe('Assist: worktree sessions', { skip: needs('tmux', 'bwrap') }, () => {
  let w: AssistWorld;
  let repo = '';
  const git = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8', env: { PATH: w.env['PATH'], HOME: w.env['HOME'] } }).trim();
  /** Types `text` at the end of /AnviLLM/'s tag and sweeps it with B2. */
  async function run(text: string): Promise<void> {
    const main = w.main();
    w.acme.click(main.id, 'tag', main.tag.length, 1);
    await w.acme.type(main.id, 'tag', ` ${text}`);
    w.acme.sweep(main.id, 'tag', text, 2);
  }

  before(async () => {
    w = await assistWorld();
    repo = w.world.project('repo');
    git('init', '-q', '-b', 'main');
    fs.writeFileSync(path.join(repo, 'a.txt'), 'one\n');
    git('add', '.');
    git('-c', 'user.name=T', '-c', 'user.email=t@example.com', 'commit', '-qm', 'first');
  });
  after(() => w.close());

  it('Fake -w <dir> starts a session in a new worktree; Diff in its chat tag opens its changes', async () => {
    await run(`Fake -w ${repo}`);
    await until(() => w.manager.list().length === 1, 'a session', 20_000);
    const s = w.manager.list()[0]!;
    assert.equal(w.manager.worktree(s.id)?.branch, `anvillm/${s.id}`);
    assert.notEqual(s.cwd, repo);
    fs.appendFileSync(path.join(s.cwd, 'a.txt'), 'two\n');
    await until(() => w.main().body.toString().includes(s.id), 'its row');
    w.acme.click(w.main().id, 'body', s.id, 3);
    const chat = await w.window(path.join(s.cwd, `+Chat.${s.id}`));
    assert.match(chat.tag.toString(), /Send Stop Save Load Alias Attach Diff Get $/);
    w.acme.click(chat.id, 'tag', 'Diff', 2);
    const diff = await w.window(`/AnviLLM/${s.id}/diff`);
    await until(() => /^ one\n\+two$/m.test(diff.body.toString()), 'the diff');
  });

  it('Fake -b <branch> <dir> names the branch; Kill says what it kept', async () => {
    await run(`Fake -b topic ${repo}`);
    await until(() => w.manager.list().length === 2, 'a second session', 20_000);
    const s = w.manager.list()[0]!;
    assert.equal(w.manager.worktree(s.id)?.branch, 'topic');
    const main = w.main();
    await until(() => main.body.toString().includes(s.id), 'its row');
    w.acme.select(main.id, 'body', s.id);
    w.acme.chord21(main.id, 'tag', 'Kill');
    await until(() => w.errors.some((e) => e === `Kill: ${s.id}: branch topic kept; its clean worktree removed`), `Kill's answer (${w.errors.join(' | ')})`, 20_000);
    assert.equal(git('branch', '--list', 'topic'), 'topic');
  });

  it('a session outside a worktree has no Diff', async () => {
    const plain = w.world.project('plain');
    await run(`Fake ${plain}`);
    await until(() => w.manager.list().some((s) => s.cwd === plain), 'a plain session', 20_000);
    const s = w.manager.list().find((x) => x.cwd === plain)!;
    await until(() => w.main().body.toString().includes(s.id), 'its row');
    w.acme.select(w.main().id, 'body', s.id); // B3 in a selection looks up the selection, as in acme
    w.acme.click(w.main().id, 'body', s.id, 3);
    const chat = await w.window(path.join(plain, `+Chat.${s.id}`));
    assert.doesNotMatch(chat.tag.toString(), /Diff/);
  });
});
