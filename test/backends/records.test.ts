/**
 * The agents' own records as the drivers read them, on files the real CLIs wrote
 * (test/fixtures/records/, recorded with Codex 0.169.0 and Gemini CLI 0.61.0 against the mock
 * model API): these tests run without the CLIs installed. And Gemini's per-session home.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { RolloutReader } from '../../src/backends/codex-rollout.js';
import { ChatReader } from '../../src/backends/gemini-chat.js';
import { sessionHome } from '../../src/backends/gemini-home.js';
import { fixturesDir, tempDir } from '../helpers.js';

const records = path.join(fixturesDir(), 'records');
const tool = (text: string) => ({ kind: 'tool', text });
const text = (t: string) => ({ kind: 'text', text: t });

describe("Codex's rollout", () => {
  const expected = [
    { prompt: 'run echo hi; sleep 1; echo there', parts: [tool('exec_command: echo hi; sleep 1; echo there'), text('Ran: echo hi; sleep 1; echo there')] },
    // Interrupted (Esc) while its tool ran.
    { prompt: 'run sleep 30', parts: [tool('exec_command: sleep 30')] },
    // After `codex resume`, in the same file: Codex's context messages are never prompts.
    { prompt: 'again', parts: [text('Echo: again')] },
  ];

  it('gives each prompt with its tool calls and answer, and says the last turn is over', () => {
    const r = new RolloutReader(path.join(records, 'codex-rollout.jsonl'));
    assert.deepEqual(r.take(), expected);
    assert.equal(r.busy(), false);
    assert.deepEqual(r.take(), []);
  });

  it('read as it is written, a line torn anywhere, gives the same turns', () => {
    const { dir, remove } = tempDir();
    try {
      const bytes = fs.readFileSync(path.join(records, 'codex-rollout.jsonl'));
      const file = path.join(dir, 'rollout.jsonl');
      const r = new RolloutReader(file);
      const turns = [];
      for (let at = 0; at < bytes.length; at += 997) {
        fs.appendFileSync(file, bytes.subarray(at, at + 997));
        turns.push(...r.take());
      }
      assert.deepEqual(turns, expected);
    } finally {
      remove();
    }
  });
});

describe("Gemini CLI's chat recording", () => {
  it('gives each prompt with its tool calls and answer; an interrupt ends the turn', () => {
    const g = new ChatReader(path.join(records, 'gemini-chat.jsonl'));
    assert.equal(g.cancelled(), true);
    assert.deepEqual(g.take(), [
      { prompt: 'hello gem', parts: [text('Echo: hello gem')] },
      { prompt: 'run echo hi; sleep 1; echo there', parts: [tool('run_shell_command: echo hi; sleep 1; echo there'), text('Ran: echo hi; sleep 1; echo there')] },
      { prompt: 'run sleep 30', parts: [tool('run_shell_command: sleep 30')] },
    ]);
    assert.equal(g.busy(), false);
  });

  it("a resumed recording's rewrite of the whole conversation (new ids, calls as parts) adds no turn", () => {
    const g = new ChatReader(path.join(records, 'gemini-chat-resumed.jsonl'));
    assert.deepEqual(g.take(), [
      { prompt: 'run touch gem-made', parts: [tool('run_shell_command: touch gem-made'), text('Ran: touch gem-made')] },
      { prompt: 'after load', parts: [text('Echo: after load')] },
    ]);
    assert.equal(g.cancelled(), false);
  });
});

describe("Gemini CLI's per-session home", () => {
  it("links every entry of the user's .gemini but settings.json, a copy with our hooks after theirs", () => {
    const { dir, remove } = tempDir();
    try {
      const user = path.join(dir, 'home', '.gemini');
      fs.mkdirSync(path.join(user, 'extensions'), { recursive: true });
      fs.writeFileSync(path.join(user, 'oauth_creds.json'), '{}');
      const theirs = { model: { name: 'x' }, hooks: { AfterAgent: [{ hooks: [{ type: 'command', command: 'theirs' }] }] } };
      fs.writeFileSync(path.join(user, 'settings.json'), JSON.stringify(theirs));
      const ours = [{ hooks: [{ type: 'command', command: 'ours' }] }];
      const home = sessionHome({ HOME: path.join(dir, 'home') }, path.join(dir, 'state', 'gemini-home'), { AfterAgent: ours, BeforeAgent: ours });
      const mine = path.join(home, '.gemini');
      assert.deepEqual(fs.readdirSync(mine).sort(), ['extensions', 'history', 'oauth_creds.json', 'settings.json', 'tmp']);
      for (const n of ['extensions', 'history', 'oauth_creds.json', 'tmp']) assert.equal(fs.readlinkSync(path.join(mine, n)), path.join(user, n));
      assert.deepEqual(JSON.parse(fs.readFileSync(path.join(mine, 'settings.json'), 'utf8')), {
        model: { name: 'x' },
        hooks: { AfterAgent: [...theirs.hooks.AfterAgent, ...ours], BeforeAgent: ours },
      });
      assert.equal(fs.readFileSync(path.join(user, 'settings.json'), 'utf8'), JSON.stringify(theirs));
      // A restart: a name the user has since made replaces the sandbox's empty placeholder for it.
      fs.mkdirSync(path.join(mine, 'policies'));
      fs.mkdirSync(path.join(user, 'policies'));
      sessionHome({ HOME: path.join(dir, 'home') }, path.join(dir, 'state', 'gemini-home'), {});
      assert.equal(fs.readlinkSync(path.join(mine, 'policies')), path.join(user, 'policies'));
      fs.writeFileSync(path.join(user, 'settings.json'), '{ // a comment\n}');
      assert.throws(() => sessionHome({ HOME: path.join(dir, 'home') }, path.join(dir, 'state', 'gemini-home'), {}), /settings\.json is not plain JSON/);
    } finally {
      remove();
    }
  });
});
