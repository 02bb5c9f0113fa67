/**
 * Gemini CLI reads hooks only from settings files: the project's `.gemini/settings.json`, the
 * user's `~/.gemini/settings.json`, and two system layers (GEMINI_CLI_SYSTEM_SETTINGS_PATH,
 * GEMINI_CLI_SYSTEM_DEFAULTS_PATH) that it skips unless the file and every directory above it
 * are owned by root and writable by no one else (measured with 0.61.0): no per-session file a
 * user's daemon could write. What it does offer is GEMINI_CLI_HOME, the directory holding
 * `.gemini`. So each session gets its own: `<state dir>/gemini-home/.gemini`, where every entry
 * of the user's `.gemini` is a link to the original (chats, history, credentials, extensions,
 * trusted folders stay the user's, and go on being written there; agent-home.ts), except
 * `settings.json`: a copy of the user's with our hooks appended to theirs (theirs keep running).
 * The user's own files are never written.
 */
import fs from 'node:fs';
import path from 'node:path';

import { homeDir } from '../sandbox/policy.js';
import { linkEntries } from './agent-home.js';
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
  const dir = path.join(root, '.gemini');
  linkEntries(user, dir, ['settings.json'], KEEP);
  writeOwnFile(path.join(dir, 'settings.json'), `${JSON.stringify(withHooks(userSettings(user), hooks), null, 2)}\n`, 0o600);
  return root;
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
