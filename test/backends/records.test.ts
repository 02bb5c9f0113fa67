/**
 * The agents' own records as the drivers read them, on files the real CLIs wrote
 * (test/fixtures/records/, recorded with Codex 0.169.0 and Gemini CLI 0.61.0 against the mock
 * model API): these tests run without the CLIs installed. And the per-session homes of Gemini and Codex.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { RolloutReader } from '../../src/backends/codex-rollout.js';
import { holdsConversation as holdsClaudeConversation } from '../../src/backends/claude-transcript.js';
import { ChatReader, holdsConversation as holdsGeminiConversation } from '../../src/backends/gemini-chat.js';
import { codexSessionHome, trusting } from '../../src/backends/codex-home.js';
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

  it('a recording with a prompt can be resumed; one with Gemini CLI\'s own context alone cannot', () => {
    const tmp = tempDir();
    try {
      const lines = fs.readFileSync(path.join(records, 'gemini-chat.jsonl'), 'utf8').split('\n');
      // Its first line, and the context Gemini CLI records at start: what a session with no prompt leaves.
      const context = lines.slice(0, 2).join('\n');
      assert.match(context, /<session_context>/);
      const file = path.join(tmp.dir, 'chat.jsonl');
      fs.writeFileSync(file, `${context}\n`);
      assert.equal(holdsGeminiConversation(file), false);
      assert.equal(holdsGeminiConversation(path.join(records, 'gemini-chat.jsonl')), true);
      assert.equal(holdsGeminiConversation(path.join(records, 'gemini-chat-resumed.jsonl')), true);
      assert.equal(holdsGeminiConversation(path.join(tmp.dir, 'absent.jsonl')), false);
    } finally {
      tmp.remove();
    }
  });
});

describe("Claude Code's transcript", () => {
  it('one with a message can be resumed; a title line alone (Claude Code killed before it wrote the turn) cannot', () => {
    const tmp = tempDir();
    try {
      const file = path.join(tmp.dir, 't.jsonl');
      fs.writeFileSync(file, `${JSON.stringify({ type: 'ai-title', aiTitle: 'Test session', sessionId: 'u' })}\n`);
      assert.equal(holdsClaudeConversation(file), false);
      fs.appendFileSync(file, `${JSON.stringify({ type: 'user', message: { role: 'user', content: 'hi' } })}\n`);
      assert.equal(holdsClaudeConversation(file), true);
      fs.rmSync(file);
      fs.symlinkSync(path.join(records, 'codex-rollout.jsonl'), file);
      assert.equal(holdsClaudeConversation(file), false, 'a link planted at its name is not followed');
    } finally {
      tmp.remove();
    }
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

describe("Codex's per-session home", () => {
  it("links every entry of the user's ~/.codex but config.toml, a copy trusting the session's repository", () => {
    const { dir, remove } = tempDir();
    try {
      const user = path.join(dir, 'home', '.codex');
      fs.mkdirSync(path.join(user, 'rules'), { recursive: true });
      fs.writeFileSync(path.join(user, 'auth.json'), '{}');
      const theirs = `model = "m"\n[hooks.state."${user}/hooks.json:stop:0:0"]\ntrusted_hash = "sha256:x"\n`;
      fs.writeFileSync(path.join(user, 'config.toml'), theirs);
      const repo = path.join(dir, 'repo');
      fs.mkdirSync(path.join(repo, '.git', 'x'), { recursive: true });
      fs.mkdirSync(path.join(repo, 'sub'));
      const mine = codexSessionHome(user, path.join(dir, 'state', 'codex-home'), path.join(repo, 'sub'));
      assert.deepEqual(fs.readdirSync(mine).sort(), ['auth.json', 'config.toml', 'rules', 'sessions', 'tmp']);
      for (const n of ['auth.json', 'rules', 'sessions', 'tmp']) assert.equal(fs.readlinkSync(path.join(mine, n)), path.join(user, n));
      // The user's trusted hooks are keyed by where the session's Codex finds them.
      assert.equal(
        fs.readFileSync(path.join(mine, 'config.toml'), 'utf8'),
        `model = "m"\n[hooks.state."${mine}/hooks.json:stop:0:0"]\ntrusted_hash = "sha256:x"\n` +
          `\n[projects.${JSON.stringify(path.join(repo, 'sub'))}]\ntrust_level = "trusted"\n\n[projects.${JSON.stringify(repo)}]\ntrust_level = "trusted"\n`,
      );
      assert.equal(fs.readFileSync(path.join(user, 'config.toml'), 'utf8'), theirs);
      // What the agent left in the session's home does not outlive its start.
      fs.writeFileSync(path.join(mine, 'hooks.json'), '{"hooks":{}}');
      codexSessionHome(user, mine, repo);
      assert.equal(fs.existsSync(path.join(mine, 'hooks.json')), false);
    } finally {
      remove();
    }
  });

  it("trusts a folder the user's config names already, in its own table, whatever it said", () => {
    const config = `a = 1\n[projects."/r"]\ntrust_level = "untrusted"\nother = 2\n[projects.'/s']\n[x]\ntrust_level = "kept"`;
    assert.equal(
      trusting(config, ['/r', '/s', '/t']),
      `a = 1\n[projects."/r"]\ntrust_level = "trusted"\nother = 2\n[projects.'/s']\ntrust_level = "trusted"\n[x]\ntrust_level = "kept"\n\n[projects."/t"]\ntrust_level = "trusted"\n`,
    );
    assert.equal(trusting('', ['/t']), '\n[projects."/t"]\ntrust_level = "trusted"\n');
  });
});
