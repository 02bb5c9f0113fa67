import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { BackendConfigError, backendsPath, loadBackends, parseBackends } from '../../src/backends/config.js';
import { BUILTIN } from '../../src/backends/definition.js';
import { tempDir } from '../helpers.js';

const FILE = '/home/u/.config/anvillm/backends.yaml';

function refused(yaml: string, pattern: RegExp): void {
  assert.throws(() => parseBackends(yaml, FILE), (e: unknown) => {
    assert.ok(e instanceof BackendConfigError, String(e));
    assert.match(e.message, pattern);
    return true;
  });
}

describe('backends', () => {
  it('are the built-ins when there is no backends.yaml', () => {
    const tmp = tempDir();
    try {
      const env = { HOME: tmp.dir };
      assert.equal(backendsPath(env), path.join(tmp.dir, '.config', 'anvillm', 'backends.yaml'));
      assert.deepEqual(loadBackends(env).map((b) => [b.name, b.label]), [['claude', 'Claude'], ['kiro-cli', 'Kiro'], ['codex', 'Codex'], ['gemini', 'Gemini']]);
      fs.mkdirSync(path.dirname(backendsPath(env)), { recursive: true });
      fs.writeFileSync(backendsPath(env), 'backends:\n  sh:\n    command: [sh]\n');
      assert.deepEqual(loadBackends(env).map((b) => b.name).at(-1), 'sh');
    } finally {
      tmp.remove();
    }
  });

  it('a page of yaml defines a new one', () => {
    const defs = parseBackends(
      `backends:
  myagent:
    label: Mine
    command: [myagent, --yolo]
    install: "npm install -g myagent"
    env: {NO_COLOR: "1"}
    pass_env: [MYAGENT_API_KEY, "MYAGENT_*"]
    size: {cols: 100, rows: 30}
    startup:
      timeout: 2m
      dialogs:
        - {match: "Trust this folder\\\\?", keys: [Enter]}
      ready: "^> "
    state: {method: quiet, quiet_ms: 250, busy: "thinking", ready: "^> $"}
    stop_keys: [C-c]
    submit: {keys: [Enter], delay_ms: 50}
    slash_commands: {allow: ["/help"]}
    save: {method: command, save: "/save {path}", load: "/load {path}"}
    response: {strip: ["^> .*$"], remove: ["^● "]}
`,
      FILE,
    );
    const d = defs.find((b) => b.name === 'myagent')!;
    assert.equal(d.label, 'Mine');
    assert.deepEqual(d.command, ['myagent', '--yolo']);
    assert.deepEqual(d.env, { NO_COLOR: '1' });
    assert.deepEqual(d.passEnv, ['MYAGENT_API_KEY', 'MYAGENT_*']);
    assert.deepEqual(d.size, { cols: 100, rows: 30 });
    assert.equal(d.startup.timeoutMs, 120_000);
    assert.ok(d.startup.dialogs[0]!.match.test('Trust this folder?'));
    assert.deepEqual(d.startup.dialogs[0]!.keys, ['Enter']);
    assert.equal(d.state.quietMs, 250);
    assert.ok(d.state.busy!.test('thinking...'));
    assert.deepEqual(d.stopKeys, ['C-c']);
    assert.deepEqual(d.submit, { keys: ['Enter'], delayMs: 50 });
    assert.deepEqual(d.slashCommands, ['/help']);
    assert.deepEqual(d.save, { method: 'command', save: '/save {path}', load: '/load {path}' });
    assert.ok(d.response.strip[0]!.test('> echo'));
    assert.equal('● answer'.replace(d.response.remove[0]!, ''), 'answer');
  });

  it('base: a variant of another backend, keeping its driver, dialogs and patterns', () => {
    const defs = parseBackends('backends:\n  claude-ask:\n    base: claude\n    command: [claude]\n', FILE);
    const ask = defs.find((d) => d.name === 'claude-ask')!;
    const claude = BUILTIN.find((d) => d.name === 'claude')!;
    assert.deepEqual([ask.label, ask.driver, ask.command], ['Claude-ask', 'claude', ['claude']]);
    assert.deepEqual(ask.startup.dialogs, claude.startup.dialogs);
    assert.equal(ask.state.method, 'hooks');
    refused('backends:\n  x:\n    base: nosuch\n', /:3: backends\.x\.base: no backend "nosuch" to start from; have: claude/);
    refused('backends:\n  x:\n    driver: nosuch\n', /:3: backends\.x\.driver: .*claude/);
  });

  it('overrides a built-in field by field, leaving the built-in itself untouched', () => {
    const defs = parseBackends('backends:\n  claude:\n    command: [/opt/claude/bin/claude, --dangerously-skip-permissions]\n', FILE);
    const claude = defs.find((b) => b.name === 'claude')!;
    assert.deepEqual(claude.command, ['/opt/claude/bin/claude', '--dangerously-skip-permissions']);
    assert.equal(claude.label, 'Claude');
    assert.equal(claude.install, BUILTIN[0]!.install);
    assert.deepEqual(BUILTIN[0]!.command, ['claude', '--dangerously-skip-permissions']);
  });

  describe('refuses a broken definition, naming the file, line and field', () => {
    it('unknown keys', () => {
      refused('backends:\n  x:\n    comand: [x]\n', /backends\.yaml:3: backends\.x\.comand: unknown key; expected one of base, driver, label, command/);
      refused('backend:\n  x: {}\n', /:1: backend: unknown key/);
    });
    it('names and labels', () => {
      refused('backends:\n  My.Agent:\n    command: [x]\n', /:2: backends\.My\.Agent: a backend name is lowercase/);
      refused('backends:\n  x:\n    label: "Two words"\n', /:3: backends\.x\.label: "Two words" must be one word/);
      refused('backends:\n  x:\n    label: Claude\n', /backends claude and x both have the label Claude/);
    });
    it('types and values', () => {
      refused('backends:\n  x:\n    command: []\n', /:3: backends\.x\.command: needs at least the program/);
      refused('backends:\n  x:\n    command: x\n', /:3: backends\.x\.command: must be a list/);
      refused('backends:\n  x:\n    startup: {timeout: soon}\n', /:3: backends\.x\.startup\.timeout: "soon" is not a duration/);
      refused('backends:\n  x:\n    state: {busy: "(unclosed"}\n', /:3: backends\.x\.state\.busy: is not a valid regular expression/);
      refused('backends:\n  x:\n    state: {method: hooks}\n', /backends\.x\.state\.method: hooks need a driver \(driver: claude \| codex \| gemini \| kiro\)/);
      refused('backends:\n  x:\n    size: {cols: 5}\n', /backends\.x\.size\.cols: must be a whole number from 20 to 1000/);
      refused('backends:\n  x:\n    stop_keys: ["Esc ape"]\n', /backends\.x\.stop_keys\[0\]: "Esc ape" is not a tmux key name/);
      refused('backends:\n  x:\n    slash_commands: {allow: [help]}\n', /slash_commands\.allow\[0\]: "help" must start with \//);
      refused('backends:\n  x:\n    save: {method: command, save: "/save", load: "/load {path}"}\n', /backends\.x\.save\.save: must contain \{path\}/);
      refused('backends:\n  x:\n    startup:\n      dialogs:\n        - {match: "a"}\n', /:5: backends\.x\.startup\.dialogs\[0\]: needs both match and keys/);
      refused('backends:\n  x:\n    env: {BAD-NAME: "1"}\n', /backends\.x\.env\.BAD-NAME: is not a variable name/);
    });
  });
});
