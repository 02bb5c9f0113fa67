/**
 * Gemini CLI reads hooks only from settings files: the project's `.gemini/settings.json`, the
 * user's `~/.gemini/settings.json`, and two system layers (GEMINI_CLI_SYSTEM_SETTINGS_PATH,
 * GEMINI_CLI_SYSTEM_DEFAULTS_PATH) that it skips unless the file and every directory above it
 * are owned by root and writable by no one else (measured with 0.61.0): no per-session file a
 * user's daemon could write. What it does offer is GEMINI_CLI_HOME, the directory holding
 * `.gemini`. So each session gets its own: `<state dir>/gemini-home/.gemini`, where every entry
 * of the user's `.gemini` is a link to the original (chats, history, credentials, extensions,
 * trusted folders stay the user's, and go on being written there), except `settings.json`: a
 * copy of the user's with our hooks appended to theirs (theirs keep running). The user's own
 * files are never written.
 */
import fs from 'node:fs';
import path from 'node:path';

import { homeDir } from '../sandbox/policy.js';
import { readRegular, writeOwnFile } from './untrusted.js';

/** Directories Gemini CLI creates at first use: made in the user's `.gemini` first, so they are linked, not lost with the session. */
const KEEP = ['tmp', 'history'];

/** The user's `.gemini`: under $GEMINI_CLI_HOME when set, else the home directory. */
export function geminiDir(env: NodeJS.ProcessEnv): string {
  return path.join(env['GEMINI_CLI_HOME'] || homeDir(env), '.gemini');
}

type Hooks = Record<string, unknown[]>;

/**
 * Makes (or brings up to date, at a restart) the session's home in `root` and returns it, for
 * GEMINI_CLI_HOME. Throws when the user's settings cannot be read as JSON: the session would
 * otherwise run without them.
 */
export function sessionHome(env: NodeJS.ProcessEnv, root: string, hooks: Hooks): string {
  const user = geminiDir(env);
  for (const d of KEEP) fs.mkdirSync(path.join(user, d), { recursive: true, mode: 0o700 });
  const dir = path.join(root, '.gemini');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const theirs = new Set(fs.readdirSync(user).filter((n) => n !== 'settings.json'));
  for (const name of new Set([...theirs, ...fs.readdirSync(dir)])) {
    if (name !== 'settings.json') link(path.join(dir, name), theirs.has(name) ? path.join(user, name) : null);
  }
  writeOwnFile(path.join(dir, 'settings.json'), `${JSON.stringify(withHooks(userSettings(user), hooks), null, 2)}\n`, 0o600);
  return root;
}

/**
 * `at` a link to `target` (null: none). What else stands there is left alone unless it is an
 * empty directory: the sandbox's placeholder for a name the user did not have at the last start.
 */
function link(at: string, target: string | null): void {
  let st: fs.Stats | null = null;
  try {
    st = fs.lstatSync(at);
  } catch {
    // nothing there
  }
  try {
    if (st?.isSymbolicLink()) {
      if (target !== null && fs.readlinkSync(at) === target) return;
      fs.unlinkSync(at);
    } else if (st?.isDirectory() && target !== null) {
      fs.rmdirSync(at); // fails, and is kept, unless empty
    } else if (st) {
      return;
    }
    if (target !== null) fs.symlinkSync(target, at);
  } catch {
    // in use (a mount of the sandbox's) or not empty: kept as it is
  }
}

function userSettings(user: string): Record<string, unknown> {
  const file = path.join(user, 'settings.json');
  if (!fs.existsSync(file)) return {};
  const text = readRegular(fs.realpathSync(file), 4 << 20);
  try {
    const parsed: unknown = JSON.parse(text ?? '');
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // below
  }
  throw new Error(`${file} is not plain JSON: AnviLLM cannot add its hooks to a copy of it (remove the comments, or use Attach)`);
}

/** The user's settings with `hooks` appended per event, as Gemini CLI itself concatenates layers. */
function withHooks(settings: Record<string, unknown>, hooks: Hooks): Record<string, unknown> {
  const theirs = settings['hooks'] && typeof settings['hooks'] === 'object' ? (settings['hooks'] as Record<string, unknown>) : {};
  const merged: Record<string, unknown> = { ...theirs };
  for (const [event, list] of Object.entries(hooks)) merged[event] = [...(Array.isArray(theirs[event]) ? theirs[event] : []), ...list];
  return { ...settings, hooks: merged };
}
