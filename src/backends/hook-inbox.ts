/**
 * Agent hooks → the daemon. An agent runs a hook command on each of its events, through sh; ours
 * is a one-line sh command (no script to start: Claude Code's own `sh -c` runs it) that writes the
 * event's name and its JSON (stdin) into `<state dir>/hooks/` (every sandbox grants the state
 * directory read-write) as one file, whole once it ends with an end mark (a byte JSON cannot hold).
 * The daemon watches that directory with inotify: a hook reaches it in a few milliseconds, with no
 * socket to open from inside the sandbox and no process of ours to start per hook. The command
 * starts one process, `head` (a rename into place, as earlier versions did, took an `mv`: some
 * 2 ms more per hook, measured); the time the hook ran is the report's mtime (a `date` would be
 * another process).
 *
 * Hooks must never fail: Claude Code treats exit status 2 as "block" (the prompt is dropped) and
 * Kiro ends its session on a failing hook, so the command always exits 0. Everything in `hooks/` is
 * written by the agent's side and is a hint to cross-check, never a command.
 */
import fs from 'node:fs';
import path from 'node:path';

import { openRegular } from './untrusted.js';

export interface HookReport {
  /** The event name our command line gave (UserPromptSubmit, Stop, …). */
  event: string;
  /** The JSON the agent wrote on the hook's stdin; {} when it was not JSON. */
  payload: Record<string, unknown>;
  /** When the hook ran (ms since the epoch): the report's mtime, which the kernel's coarse clock may put a few ms early. */
  at: number;
}

const MAX_REPORT = 256 * 1024;
/** <pid>.r, written in place by the command: whole once it ends with END. */
const MARKED = /^\d{1,10}\.r$/;
/** Renamed into place whole by the commands of earlier versions (an adopted session's): <pid>, <nanoseconds>-<pid>. */
const RENAMED = /^(?:\d{1,20}-)?\d{1,10}$/;
const isReport = (name: string) => MARKED.test(name) || RENAMED.test(name);
/** The end mark: a control character, which JSON has only escaped. */
const END = '\n\x04';
/** A report still without its end mark this long after its last write was cut short (its hook killed): dropped. */
const UNFINISHED_MAX_MS = 30_000;
/** Hooks running at once are a few: more reports than this left unfinished are the agent's own, dropped. */
const UNFINISHED_MAX = 32;

/** `'…'` for sh: our own paths only, but quoted all the same. */
export function shQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** Makes `<stateDir>/hooks/` and returns the command line that reports `event` there. */
export function installHook(stateDir: string): (event: string) => string {
  const inbox = path.join(stateDir, 'hooks');
  fs.mkdirSync(inbox, { recursive: true, mode: 0o700 });
  // $$ (the hook's shell) is unique among hooks running at once.
  return (event) =>
    `d=${shQuote(inbox)}; { printf '%s\\n' ${shQuote(event)}; head -c ${MAX_REPORT}; printf '\\n\\004'; } 2>/dev/null >"$d/$$.r"; exit 0`;
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
    // A report is looked at on each write: the one that ends it comes last.
    this.watcher = fs.watch(this.dir, (_, name) => (!name || isReport(name) ? this.drain() : undefined));
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
          names = fs.readdirSync(this.dir).filter(isReport);
        } catch {
          return;
        }
        let waiting = 0;
        const reports: HookReport[] = [];
        for (const name of names) {
          const r = readReport(path.join(this.dir, name), MARKED.test(name), waiting < UNFINISHED_MAX);
          if (r === 'unfinished') waiting++;
          else if (r) reports.push(r);
        }
        // Oldest first (reports are at most a few at a time).
        for (const report of reports.sort((a, b) => a.at - b.at)) {
          try {
            this.onReport(report);
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

/**
 * A report (a regular file of sane size, whole), or null; it is removed, unless it is still being
 * written and `mayWait` (`marked`, without its end mark yet: its last write brings another look;
 * only its last bytes are read till then). One left unfinished (its hook killed) is dropped, as a
 * rename that never came was.
 */
function readReport(file: string, marked: boolean, mayWait: boolean): HookReport | 'unfinished' | null {
  const f = openRegular(file);
  let report: HookReport | null = null;
  if (f) {
    try {
      const mtime = fs.fstatSync(f.fd).mtimeMs;
      const sane = f.size <= 2 * MAX_REPORT;
      const whole = !marked || endsWithMark(f.fd, f.size);
      if (sane && !whole && mayWait && Date.now() - mtime < UNFINISHED_MAX_MS) return 'unfinished';
      if (sane && whole) {
        const text = fs.readFileSync(f.fd, 'utf8');
        report = parseReport(marked ? text.slice(0, -END.length) : text, mtime);
      }
    } catch {
      // unreadable: dropped
    } finally {
      fs.closeSync(f.fd);
    }
  }
  try {
    fs.unlinkSync(file); // a directory planted there stays: never removed recursively
  } catch {
    // gone, or not ours to remove
  }
  return report;
}

function endsWithMark(fd: number, size: number): boolean {
  if (size < END.length) return false;
  const tail = Buffer.alloc(END.length);
  return fs.readSync(fd, tail, 0, END.length, size - END.length) === END.length && tail.toString('latin1') === END;
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
