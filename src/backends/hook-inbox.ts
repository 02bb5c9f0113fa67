/**
 * Agent hooks → the daemon. An agent runs a hook command on each of its events; ours is a tiny
 * sh script in the session's state directory (which every sandbox grants read-write) that drops
 * the event's name and its JSON (stdin) into `hooks/` as one file, made whole by a rename. The
 * daemon watches that directory with inotify: a hook reaches it in a few milliseconds, with no
 * socket to open from inside the sandbox and no process of ours to start per hook.
 *
 * Hooks must never fail: Claude Code treats exit status 2 as "block" (the prompt is dropped) and
 * Kiro ends its session on a failing hook, so the script always exits 0. Everything in `hooks/` is
 * written by the agent's side and is a hint to cross-check, never a command.
 */
import fs from 'node:fs';
import path from 'node:path';

import { readRegular, writeOwnFile } from './untrusted.js';

export interface HookReport {
  /** The event name our command line gave (UserPromptSubmit, Stop, …). */
  event: string;
  /** The JSON the agent wrote on the hook's stdin; {} when it was not JSON. */
  payload: Record<string, unknown>;
  /** When the hook ran (ms since the epoch), from the report's name. */
  at: number;
}

const MAX_REPORT = 256 * 1024;
/** <nanoseconds>-<pid>, as the script names them. */
const REPORT_NAME = /^\d{1,20}-\d{1,10}$/;

/** `'…'` for sh: our own paths only, but quoted all the same. */
export function shQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** Writes `<stateDir>/hook` and returns the command line that reports `event` through it. */
export function installHook(stateDir: string): (event: string) => string {
  const inbox = path.join(stateDir, 'hooks');
  fs.mkdirSync(inbox, { recursive: true, mode: 0o700 });
  const script = path.join(stateDir, 'hook');
  const body = `#!/bin/sh
# AnviLLM: records one agent hook for the daemon (see src/backends/hook-inbox.ts). Never fails:
# a failing hook would block the agent's prompt or end its session.
d=${shQuote(inbox)}
t="$d/.$$"
{ printf '%s\\n' "$1"; head -c ${MAX_REPORT}; } >"$t" 2>/dev/null && mv -f "$t" "$d/$(date +%s%N)-$$" 2>/dev/null
exit 0
`;
  writeOwnFile(script, body, 0o600);
  // Through sh, so the script needs only read access (landrun grants the state directory rw, not x).
  return (event) => `/bin/sh ${shQuote(script)} ${event}`;
}

/** Watches `<stateDir>/hooks/` and hands each report over once, oldest first. */
export class HookInbox {
  private readonly dir: string;
  private watcher: fs.FSWatcher | null = null;
  private draining = false;
  private again = false;

  constructor(
    stateDir: string,
    private readonly onReport: (r: HookReport) => void,
  ) {
    this.dir = path.join(stateDir, 'hooks');
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.watcher = fs.watch(this.dir, () => this.drain());
    this.watcher.on('error', () => this.close());
    this.drain(); // reports written before we watched (a daemon restart)
  }

  close(): void {
    this.watcher?.close();
    this.watcher = null;
  }

  private drain(): void {
    if (this.draining) {
      this.again = true;
      return;
    }
    this.draining = true;
    try {
      do {
        this.again = false;
        let names: string[];
        try {
          // The agent can swap the directory for a link to elsewhere: read only the real one.
          if (!fs.lstatSync(this.dir).isDirectory()) return;
          names = fs.readdirSync(this.dir).filter((n) => REPORT_NAME.test(n));
        } catch {
          return;
        }
        // Names are <nanoseconds>-<pid>, all the same width for the next 260 years.
        for (const name of names.sort()) {
          const file = path.join(this.dir, name);
          const text = readReport(file);
          if (text === null) continue;
          const report = parseReport(text, Number(name.split('-')[0]) / 1e6 || Date.now());
          try {
            if (report) this.onReport(report);
          } catch (e) {
            process.stderr.write(`anvillm: a hook report failed: ${(e as Error).message}\n`);
          }
        }
      } while (this.again && this.watcher);
    } finally {
      this.draining = false;
    }
  }
}

/** A report's text (a regular file of sane size, or null), and the report removed. */
function readReport(file: string): string | null {
  const text = readRegular(file, 2 * MAX_REPORT);
  try {
    fs.unlinkSync(file); // a directory planted there stays: never removed recursively
  } catch {
    // gone, or not ours to remove
  }
  return text;
}

export function parseReport(text: string, at: number): HookReport | null {
  const nl = text.indexOf('\n');
  const event = (nl < 0 ? text : text.slice(0, nl)).trim();
  if (!/^[A-Za-z][\w-]*$/.test(event)) return null;
  let payload: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text.slice(nl + 1));
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) payload = parsed as Record<string, unknown>;
  } catch {
    // not JSON: the event name alone still says what happened
  }
  return { event, payload, at };
}
