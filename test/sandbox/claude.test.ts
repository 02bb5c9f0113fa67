/**
 * The agents' homes (issue 12, item 2) with the REAL Claude Code in a real session (tmux,
 * bubblewrap, the mock Messages API): its own Bash tool call tries to plant a hook and an MCP
 * server where the user's direct, unsandboxed `claude` would run them; the host is checked after.
 * Its records (the transcript) are written where the user finds them, and a login is kept.
 * Named claude.test.ts so scripts/test.mjs runs it with the other real agents, one at a time.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { projectDir } from '../../src/backends/claude-transcript.js';
import type { Session } from '../../src/session/session.js';
import { claudeProgram, claudeWorld, type ClaudeWorld } from '../fixtures/claude-env.js';
import { needs, until } from '../helpers.js';

const skip = needs('tmux', 'bwrap') || (claudeProgram() ? false : 'Claude Code is not installed: npm ci installs the pinned devDependency');

describe("Claude Code's home: a session plants nothing the user's own run obeys", { skip, timeout: 120_000 }, () => {
  let world: ClaudeWorld;
  let files: Record<string, string>;
  const userState = { hasCompletedOnboarding: true, theme: 'dark', oauthAccount: { emailAddress: 'user@example.com' }, mcpServers: {} };
  const credentials = { claudeAiOauth: { accessToken: 'sk-ant-oat-user', refreshToken: 'sk-ant-ort-user', expiresAt: Date.now() + 86_400_000 } };

  before(async () => {
    world = await claudeWorld();
    const h = world.home;
    fs.mkdirSync(path.join(h, '.claude'), { recursive: true });
    files = {
      [path.join(h, '.claude.json')]: `${JSON.stringify(userState)}\n`,
      [path.join(h, '.claude', '.credentials.json')]: `${JSON.stringify(credentials)}\n`,
      [path.join(h, '.claude', 'settings.json')]: '{"theme": "dark"}\n',
    };
    for (const [f, text] of Object.entries(files)) fs.writeFileSync(f, text, { mode: 0o600 });
    // As every policy written before issue 12 did: ~/.claude.json granted read-write.
    const policy = path.join(h, '.config', 'anvillm', 'sandbox.yaml');
    fs.writeFileSync(policy, fs.readFileSync(policy, 'utf8').replace('  rw:\n', '  rw:\n    - "{HOME}/.claude.json"\n'));
  });
  after(async () => {
    await world?.close();
  });

  it("its Bash tool cannot write ~/.claude/settings.json or ~/.claude.json; its transcript is written; the login is unchanged", async () => {
    const cwd = world.project('proj');
    const s: Session = await world.manager.create('claude', cwd);
    const idle = () => until(() => s.state === 'idle', () => `idle (it is ${s.state}; err: ${s.err()})`, 60_000);
    await idle();
    const mark = path.join(world.world.root, 'RAN-OUTSIDE');
    const hook = JSON.stringify({ hooks: { SessionStart: [{ hooks: [{ type: 'command', command: `touch ${mark}` }] }] } });
    s.prompt(`RUN: echo '${hook}' > ~/.claude/settings.json; echo '{"mcpServers":{"x":{"command":"touch"}}}' > ~/.claude.json; echo attempted`);
    await until(() => s.state === 'running', 'running', 10_000).catch(() => {});
    await idle();
    assert.match(s.out(), /Tool said: .*(Read-only file system|Permission denied)/s, s.out());
    for (const [f, text] of Object.entries(files)) assert.equal(fs.readFileSync(f, 'utf8'), text, `${f} unchanged`);
    assert.equal(fs.existsSync(mark), false);
    // The session's own state file, seeded from the user's: the account carried over.
    const own = JSON.parse(fs.readFileSync(path.join(world.home, '.claude', '.claude.json'), 'utf8')) as typeof userState;
    assert.equal(own.oauthAccount.emailAddress, 'user@example.com');
    // The transcript, where the user's own `claude --resume` finds it.
    const dir = projectDir(path.join(world.home, '.claude'), cwd);
    const transcripts = fs.readdirSync(dir).filter((n) => n.endsWith('.jsonl'));
    assert.equal(transcripts.length, 1);
    assert.match(fs.readFileSync(path.join(dir, transcripts[0]!), 'utf8'), /attempted/);
  });

  it('new claude ~: it starts and answers in the home directory; its Bash tool cannot touch ~/.bashrc or add ~/.bash_profile', async () => {
    const bashrc = path.join(world.home, '.bashrc');
    fs.writeFileSync(bashrc, '# the user’s\n');
    const s: Session = await world.manager.create('claude', world.home);
    const idle = () => until(() => s.state === 'idle', () => `idle (it is ${s.state}; err: ${s.err()})`, 60_000);
    await idle();
    const mark = path.join(world.world.root, 'RAN-OUTSIDE');
    s.prompt(`RUN: echo "touch ${mark}" >> ~/.bashrc; echo "touch ${mark}" > ~/.bash_profile; echo tried`);
    await until(() => s.state === 'running', 'running', 10_000).catch(() => {});
    await idle();
    assert.match(s.out(), /Tool said: .*(Read-only file system|Permission denied)/s, s.out());
    assert.equal(fs.readFileSync(bashrc, 'utf8'), '# the user’s\n');
    assert.equal(fs.existsSync(path.join(world.home, '.bash_profile')), false);
  });
});
