/** Which terminal Attach opens: $ANVILLM_TERMINAL, then config.yaml, then foot / x-terminal-emulator / xterm. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { NO_TERMINAL, terminalCommand } from '../../src/ui/terminal.js';
import { tempDir } from '../helpers.js';

function withWorld(f: (home: string, bin: string) => void): void {
  const tmp = tempDir();
  try {
    const bin = path.join(tmp.dir, 'bin');
    fs.mkdirSync(bin);
    f(path.join(tmp.dir, 'home'), bin);
  } finally {
    tmp.remove();
  }
}

function program(bin: string, name: string): void {
  fs.writeFileSync(path.join(bin, name), '#!/bin/sh\n', { mode: 0o755 });
}

describe('Attach terminal', () => {
  it('config.yaml terminal: is a command line, quoted the Plan 9 way; $ANVILLM_TERMINAL wins over it', () => {
    withWorld((home, bin) => {
      fs.mkdirSync(path.join(home, '.config', 'anvillm'), { recursive: true });
      fs.writeFileSync(path.join(home, '.config', 'anvillm', 'config.yaml'), `terminal: "st -t 'agent window' -e"\n`);
      const env = { HOME: home, PATH: bin };
      assert.deepEqual(terminalCommand(env), ['st', '-t', 'agent window', '-e']);
      assert.deepEqual(terminalCommand({ ...env, ANVILLM_TERMINAL: 'kitty' }), ['kitty']);
      fs.writeFileSync(path.join(home, '.config', 'anvillm', 'config.yaml'), 'terminal: [xterm]\n');
      assert.throws(() => terminalCommand(env), /config\.yaml: terminal: must be a command line/);
    });
  });

  it('without either: the first of foot, x-terminal-emulator, xterm on PATH', () => {
    withWorld((home, bin) => {
      const env = { HOME: home, PATH: bin };
      assert.throws(() => terminalCommand(env), { message: NO_TERMINAL });
      program(bin, 'xterm');
      assert.deepEqual(terminalCommand(env), ['xterm', '-e']);
      program(bin, 'x-terminal-emulator');
      assert.deepEqual(terminalCommand(env), ['x-terminal-emulator', '-e']);
      program(bin, 'foot');
      assert.deepEqual(terminalCommand(env), ['foot']);
    });
  });
});
