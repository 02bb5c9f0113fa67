/** The hook script agents run, and the daemon's side of it: real sh, real inotify. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { HookInbox, installHook, type HookReport } from '../../src/backends/hook-inbox.js';
import { tempDir, until } from '../helpers.js';

/** As Claude Code runs a hook: its command line through sh, the event's JSON on stdin. */
function runHook(command: string, stdin: string): number | null {
  return spawnSync('/bin/sh', ['-c', command], { input: stdin }).status;
}

interface Inbox {
  /** The state directory the inbox watches. */
  dir: string;
  /** Its hooks/ directory. */
  hooks: string;
  /** What the inbox handed over, in order. */
  reports: HookReport[];
}

/** Runs `body` with an inbox watching a fresh state directory, removed after. */
async function withInbox(body: (inbox: Inbox) => Promise<void>): Promise<void> {
  const tmp = tempDir();
  const reports: HookReport[] = [];
  const inbox = new HookInbox(tmp.dir, (r) => reports.push(r));
  try {
    await body({ dir: tmp.dir, hooks: path.join(tmp.dir, 'hooks'), reports });
  } finally {
    inbox.close();
    tmp.remove();
  }
}

describe('hook inbox', () => {
  it('a hook run reaches the daemon with its event, JSON and time, once', () =>
    withInbox(async ({ dir, hooks, reports }) => {
      const hook = installHook(dir);
      const before = Date.now();
      assert.equal(runHook(hook('Stop'), JSON.stringify({ last_assistant_message: 'done', n: 1 })), 0);
      assert.equal(runHook(hook('UserPromptSubmit'), 'not json'), 0);
      await until(() => reports.length === 2, 'two reports');
      assert.deepEqual(reports.map((r) => [r.event, r.payload]), [['Stop', { last_assistant_message: 'done', n: 1 }], ['UserPromptSubmit', {}]]);
      // Its mtime: the kernel's coarse clock can put it up to a tick (≤ 10 ms) before the real time.
      assert.ok(reports[0]!.at >= before - 10 && reports[0]!.at <= Date.now(), 'the time the hook ran');
      assert.deepEqual(fs.readdirSync(hooks), [], 'reports are taken away');
    }));

  it('the hook never fails, even when it cannot report (a failing hook blocks the prompt)', () => {
    const tmp = tempDir();
    try {
      const hook = installHook(tmp.dir);
      fs.rmSync(path.join(tmp.dir, 'hooks'), { recursive: true });
      assert.equal(runHook(hook('Stop'), '{}'), 0);
      fs.writeFileSync(path.join(tmp.dir, 'hooks'), 'a file where the directory was');
      assert.equal(runHook(hook('Stop'), '{}'), 0);
    } finally {
      tmp.remove();
    }
  });

  it('a state directory with quotes and spaces in its name is quoted for the shell', async () => {
    const tmp = tempDir();
    const dir = path.join(tmp.dir, `it's a "dir" $(touch pwned)`);
    fs.mkdirSync(dir);
    const reports: HookReport[] = [];
    const inbox = new HookInbox(dir, (r) => reports.push(r));
    try {
      assert.equal(runHook(installHook(dir)('Stop'), '{}'), 0);
      await until(() => reports.length === 1, 'the report');
      assert.ok(!fs.existsSync('pwned') && !fs.existsSync(path.join(tmp.dir, 'pwned')));
    } finally {
      inbox.close();
      tmp.remove();
    }
  });

  it('what the agent writes there itself is a hint at most: junk is dropped', () =>
    withInbox(async ({ dir, hooks, reports }) => {
      fs.writeFileSync(path.join(dir, 'hooks', '1-1'), '$(rm -rf ~)\n{}');
      spawnSync('mkfifo', [path.join(dir, 'hooks', '1-2')]); // would block a plain read forever
      fs.symlinkSync('/etc/passwd', path.join(dir, 'hooks', '1-3'));
      fs.writeFileSync(path.join(dir, 'hooks', '1-4'), `Stop\n${' '.repeat(1 << 20)}`);
      fs.writeFileSync(path.join(dir, 'hooks', '2-2'), 'Stop\n[1,2]');
      fs.writeFileSync(path.join(dir, 'hooks', '.5'), 'Stop\n{}'); // a report being written
      await until(() => reports.length === 1, 'one report');
      assert.deepEqual(reports[0]!.event, 'Stop');
      assert.deepEqual(reports[0]!.payload, {});
      assert.deepEqual(fs.readdirSync(hooks), ['.5']);
    }));

  it('a report is taken once its hook has written it whole; one cut short long ago is dropped', () =>
    withInbox(async ({ hooks, reports }) => {
      const cut = path.join(hooks, '41.r');
      fs.writeFileSync(cut, 'Stop\n{"last_assistant_message":"never fini');
      const old = new Date(Date.now() - 60_000);
      fs.utimesSync(cut, old, old);
      const writing = path.join(hooks, '42.r');
      fs.writeFileSync(writing, 'Stop\n{"last_assistant_message":"half');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(reports.length, 0, 'nothing is taken before its end');
      fs.appendFileSync(writing, ' and whole"}\n\x04');
      await until(() => reports.length === 1, 'the report, once whole');
      assert.deepEqual([reports[0]!.event, reports[0]!.payload], ['Stop', { last_assistant_message: 'half and whole' }]);
      await until(() => !fs.existsSync(cut), 'the report cut short to be dropped');
      assert.equal(reports.length, 1);
      // A report written by the hook command of an earlier version (renamed into place) is still read.
      fs.writeFileSync(path.join(hooks, '.43'), 'SessionEnd\n{}');
      fs.renameSync(path.join(hooks, '.43'), path.join(hooks, '43'));
      await until(() => reports.length === 2, 'the renamed report');
      assert.deepEqual(fs.readdirSync(hooks), []);
    }));

  it("the agent's own unfinished reports are kept a few at most: a flood of them is dropped", () =>
    withInbox(async ({ dir, hooks, reports }) => {
      for (let i = 100; i < 140; i++) fs.writeFileSync(path.join(hooks, `${i}.r`), 'Stop\n{"never":"ends"');
      assert.equal(runHook(installHook(dir)('Stop'), '{"n":1}'), 0);
      await until(() => reports.length === 1, 'the real report');
      await until(() => fs.readdirSync(hooks).length <= 32, () => `at most 32 left (${fs.readdirSync(hooks).length})`);
      assert.deepEqual(reports[0]!.payload, { n: 1 });
    }));
});
