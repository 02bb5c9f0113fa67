/**
 * Attach: a terminal window running the session's `attach` command. The terminal is
 * $ANVILLM_TERMINAL, else `terminal:` in ~/.config/anvillm/config.yaml (a command line, words
 * quoted the Plan 9 way, to which the attach command's words are appended, e.g. `xterm -e`),
 * else the first of foot, x-terminal-emulator, xterm on PATH. Always an argv: no shell ever sees
 * the words.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { parse } from 'yaml';

import { tokenize } from '../protocol/words.js';
import { configHome } from '../sandbox/policy.js';
import { findOnPath } from '../sandbox/resolve.js';

const FALLBACKS: [string, string[]][] = [
  ['foot', []],
  ['x-terminal-emulator', ['-e']],
  ['xterm', ['-e']],
];

export const NO_TERMINAL =
  'Attach: no terminal found: set $ANVILLM_TERMINAL (e.g. "xterm -e"), or terminal: in ~/.config/anvillm/config.yaml, or install foot or xterm';

function configured(env: NodeJS.ProcessEnv): string | null {
  const fromEnv = env['ANVILLM_TERMINAL'];
  if (fromEnv && fromEnv.trim() !== '') return fromEnv;
  const file = path.join(configHome(env), 'anvillm', 'config.yaml');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const doc = parse(text) as { terminal?: unknown } | null;
  const t = doc?.terminal;
  if (t === undefined || t === null) return null;
  if (typeof t !== 'string') throw new Error(`${file}: terminal: must be a command line, e.g. "xterm -e"`);
  return t;
}

/** The terminal's argv prefix, or throws NO_TERMINAL. */
export function terminalCommand(env: NodeJS.ProcessEnv): string[] {
  const line = configured(env);
  if (line !== null) {
    const words = tokenize(line);
    if (words.length === 0) throw new Error(NO_TERMINAL);
    return words;
  }
  for (const [name, args] of FALLBACKS) if (findOnPath(name, env)) return [name, ...args];
  throw new Error(NO_TERMINAL);
}

/** Starts the terminal running `attach` (an argv), detached: it outlives Assist. */
export function openTerminal(attach: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const argv = [...terminalCommand(env), ...attach];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, detached: true, stdio: 'ignore' });
    child.once('error', (e) => reject(new Error(`Attach: cannot run ${argv[0]}: ${e.message}`)));
    child.once('spawn', () => {
      child.unref();
      resolve();
    });
  });
}
