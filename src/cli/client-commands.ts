/**
 * The anvillm client subcommands: each a few 9P operations on agent/ through our client, so no
 * plan9port is needed. Exit 0 ok, 1 error (message on stderr), 2 usage.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';

import { namespaceDir } from '../ninep/namespace.js';
import { AgentClient, isMissing, type EventStream } from '../protocol/client.js';
import { SESSION_FILES, WORKTREE_FILES, eventText, type AgentEvent, type NewOptions } from '../protocol/protocol.js';
import { quoteWords, tokenize } from '../protocol/words.js';
import { UsageError, type CommandIO } from './io.js';

export const CLIENT_USAGE = `  ls [--json]                 the sessions
  new <backend> <dir> [--alias a] [--worktree [branch]]
                              start a session; prints its id
  diff <id>                   a worktree session's changes, as git diff text
  send <id> [text…] [--wait]  a prompt (stdin when no text); --wait prints the answer
  read <id> [file]            a file of the session (default: out)
  wait <id> [--state S] [--timeout s]
                              until the session is in state S (default idle)
  ctl <id> <command…>         stop | kill | restart | save [path] | load <path> | alias <name>
  stop <id>, kill <id>, alias <id> <name>
  attach <id>                 the session's terminal, here (tmux; detach with C-b d)
  events                      every event, as it happens
  (<id> is a session's id or its alias)`;

/** Each client command's own --help. */
const HELP: Record<string, string> = {
  ls: `usage: anvillm ls [--json]

The sessions, newest first: id, backend, state, pid, alias, directory.
--json prints them as a JSON array (pid and alias null when there are none).`,
  new: `usage: anvillm new <backend> <dir> [--alias a] [--worktree [branch]]

Starts a session of <backend> (see agent/backends) in <dir> and prints its id.
--worktree: in a new git worktree of <dir>'s repository, on a new branch (default
anvillm/<alias or id>) from its current HEAD, under $XDG_DATA_HOME/anvillm/worktrees;
the agent can write that worktree and commit to its branch, not your checkout.`,
  diff: `usage: anvillm diff <id|alias>

Prints what a worktree session changed since its branch point — its commits and its
uncommitted work — as git diff text (agent/<id>/diff).`,
  send: `usage: anvillm send <id|alias> [text…] [--wait]

Sends the words as one prompt, or stdin when there are none. A prompt sent while the agent
works is queued. --wait waits for the answer and prints it (send one prompt at a time).`,
  read: `usage: anvillm read <id|alias> [file]

Prints a file of the session: out (the default; the last answer), transcript, screen, err,
state, pid, cwd, backend, attach, alias, winid, context.`,
  wait: `usage: anvillm wait <id|alias> [--state S] [--timeout s]

Returns once the session is in state S (default idle): starting idle running waiting exited
error. With --timeout, fails after s seconds.`,
  ctl: `usage: anvillm ctl <id|alias> <command…>

Writes one command to the session's ctl: stop, kill, restart, save [path], load <path>,
alias <name>. Prints what the command answers (save: the file it wrote).`,
  stop: `usage: anvillm stop <id|alias>

Interrupts what the agent is doing (its backend's stop keys, e.g. Escape) and drops the
prompts queued behind it; the session stays.`,
  kill: `usage: anvillm kill <id|alias>

Ends the session, its agent and every process the agent started; once they are gone the session
leaves the list (a session that exited by itself stays listed until killed or restarted). A
worktree session's branch stays, and its worktree while it holds uncommitted work: kill says where.`,
  alias: `usage: anvillm alias <id|alias> <name>

Names the session: letters, digits, _ and -, at most 64, unique, not 8 hex digits.`,
  attach: `usage: anvillm attach <id|alias>

Attaches this terminal to the session's tmux window, to answer what the agent asks at its
terminal. Detach with C-b d: the agent keeps running.`,
  events: `usage: anvillm events

Prints every event from now on, one per line, until interrupted:
  <id> new <backend> <cwd> | state <old> <new> | alias <name> | out | exit <status> | error <text>
  | gone (killed: it has left the list)`,
};

async function connect(io: CommandIO): Promise<AgentClient> {
  try {
    return await AgentClient.dial(io.env);
  } catch {
    throw new Error(`no daemon is serving ${path.join(namespaceDir(io.env), 'agent')}: start one with \`anvillm daemon start\` (or \`anvillm serve\` in the foreground)`);
  }
}

async function withClient<T>(io: CommandIO, f: (c: AgentClient) => Promise<T>): Promise<T> {
  const c = await connect(io);
  try {
    return await f(c);
  } finally {
    c.close();
  }
}

/** The id of the session named `who` (an id or an alias), or an error saying how to find one. */
async function sessionId(c: AgentClient, who: string): Promise<string> {
  const id = await c.idOf(who);
  if (id === null) throw new Error(`no session "${who}": \`anvillm ls\` lists the sessions, by id and alias`);
  return id;
}

/** A file of a session, read whole; a missing file is named with the ones there are. */
async function readSessionFile(c: AgentClient, id: string, file: string): Promise<string> {
  try {
    return await c.read(id, file);
  } catch (e) {
    if (isMissing(e)) throw new Error(`session ${id} has no file "${file}"; it has: ${SESSION_FILES.join(' ')} (worktree sessions: ${WORKTREE_FILES.join(' ')})`);
    throw e;
  }
}

function need(args: string[], n: number, usage: string): void {
  if (args.length < n) throw new UsageError(`usage: anvillm ${usage}`);
}

/** Takes `--name value` out of args. */
function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined) throw new UsageError(`${name} needs a value`);
  args.splice(i, 2);
  return v;
}

/**
 * Takes `--worktree [branch]` (or `--worktree=branch`) out of args: what it asks of `new`.
 * A word after it is the branch only when two others (backend, dir) remain.
 */
function worktreeOption(args: string[]): NewOptions['worktree'] {
  const eq = args.findIndex((a) => a.startsWith('--worktree='));
  if (eq >= 0) return { branch: args.splice(eq, 1)[0]!.slice('--worktree='.length) };
  const i = args.indexOf('--worktree');
  if (i < 0) return undefined;
  const next = args[i + 1];
  const branch = next !== undefined && !next.startsWith('-') && args.length === 4 ? next : undefined;
  args.splice(i, branch === undefined ? 1 : 2);
  return branch === undefined ? {} : { branch };
}

function flag(args: string[], name: string): boolean {
  const i = args.indexOf(name);
  if (i >= 0) args.splice(i, 1);
  return i >= 0;
}

async function readStdin(): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of process.stdin) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString();
}

/** Waits on an open events file until `match` accepts an event. */
async function awaitEvent(events: EventStream, match: (e: AgentEvent) => boolean, timeoutMs?: number): Promise<void> {
  const controller = new AbortController();
  const timer = timeoutMs ? setTimeout(() => controller.abort(new Error('timed out')), timeoutMs) : null;
  try {
    for await (const e of events.read(controller.signal)) if (match(e)) return;
    throw new Error('the daemon closed the event stream');
  } finally {
    if (timer) clearTimeout(timer);
  }
}

const commands: Record<string, (args: string[], io: CommandIO) => Promise<number>> = {
  async ls(args, io) {
    const json = flag(args, '--json');
    if (args.length > 0) throw new UsageError('usage: anvillm ls [--json]');
    const list = await withClient(io, (c) => c.list());
    const rows = list.map((l) => ({ ...l, pid: l.pid === '-' ? null : Number(l.pid) }));
    if (json) io.stdout(JSON.stringify(rows, null, 2));
    else for (const r of rows) io.stdout([r.id, r.backend.padEnd(8), r.state.padEnd(8), String(r.pid ?? '-').padEnd(7), (r.alias ?? '-').padEnd(12), r.cwd].join(' '));
    return 0;
  },

  async new(args, io) {
    const usage = 'new <backend> <dir> [--alias a] [--worktree [branch]]';
    const alias = option(args, '--alias');
    const worktree = worktreeOption(args);
    need(args, 2, usage);
    if (args.length > 2) throw new UsageError(`usage: anvillm ${usage}`);
    // `new <backend> <dir> worktree` asks for a worktree; an alias of that name needs one too.
    if (alias === 'worktree' && !worktree) throw new UsageError('--alias worktree names a worktree session only: add --worktree, or pick another name');
    const options: NewOptions = { ...(alias ? { alias } : {}), ...(worktree ? { worktree } : {}) };
    const id = await withClient(io, (c) => c.create(args[0]!, path.resolve(args[1]!), options));
    io.stdout(id);
    return 0;
  },

  async send(args, io) {
    const wait = flag(args, '--wait');
    need(args, 1, 'send <id|alias> [text…] [--wait]');
    const [who, ...words] = args;
    const text = words.length > 0 ? words.join(' ') : await readStdin();
    return withClient(io, async (c) => {
      const id = await sessionId(c, who!); // an alias resolves to the id
      const events = wait ? await c.events() : null;
      try {
        await c.write(id, 'in', text);
        if (events) {
          // The answer is the next "out" (prompts queued ahead answer first: send one at a time).
          let ended = '';
          await awaitEvent(events, (e) => {
            if (e.id === id && (e.kind === 'exit' || e.kind === 'error' || e.kind === 'gone')) ended = eventText(e);
            return e.id === id && (e.kind === 'out' || ended !== '');
          });
          if (ended) throw new Error(`session ${id} ended before answering (${ended}); see ${id}/err`);
          io.stdout(await c.read(id, 'out'));
        }
        return 0;
      } finally {
        await events?.close();
      }
    });
  },

  async read(args, io) {
    need(args, 1, 'read <id> [file]');
    const [who, file = 'out'] = args;
    const data = await withClient(io, async (c) => readSessionFile(c, await sessionId(c, who!), file));
    process.stdout.write(data);
    return 0;
  },

  async wait(args, io) {
    const state = option(args, '--state') ?? 'idle';
    const timeout = option(args, '--timeout');
    need(args, 1, 'wait <id> [--state S] [--timeout s]');
    const ms = timeout === undefined ? undefined : Number(timeout) * 1000;
    if (ms !== undefined && !(ms > 0)) throw new UsageError('--timeout takes seconds');
    return withClient(io, async (c) => {
      const id = await sessionId(c, args[0]!);
      const events = await c.events(); // first, so no change is missed
      try {
        let now = (await c.read(id, 'state')).trim();
        if (now !== state) {
          try {
            await awaitEvent(events, (e) => {
              if (e.id === id && e.kind === 'state') now = e.to;
              if (e.id === id && e.kind === 'gone' && now !== state) throw new Error(`session ${id} was killed while ${now} (waited for ${state})`);
              return now === state;
            }, ms);
          } catch (e) {
            if (e instanceof Error && e.message === 'timed out') {
              throw new Error(`session ${id} is still ${now} after ${timeout} s (waited for ${state}); wait longer with --timeout`);
            }
            throw e;
          }
        }
        return 0;
      } finally {
        await events.close();
      }
    });
  },

  async ctl(args, io) {
    need(args, 2, 'ctl <id> <command…>');
    const [who, ...words] = args;
    const answer = await withClient(io, async (c) => c.ctl(await sessionId(c, who!), words));
    if (answer) io.stdout(answer);
    return 0;
  },

  async diff(args, io) {
    need(args, 1, 'diff <id>');
    if (args.length > 1) throw new UsageError('usage: anvillm diff <id>');
    const text = await withClient(io, async (c) => {
      const id = await sessionId(c, args[0]!);
      const diff = await c.diff(id);
      if (diff === null) throw new Error(`session ${id} is not a worktree session: it has no diff (start one with new --worktree)`);
      return diff;
    });
    process.stdout.write(text);
    return 0;
  },

  stop: (args, io) => (need(args, 1, 'stop <id>'), commands['ctl']!([args[0]!, 'stop'], io)),
  kill: (args, io) => (need(args, 1, 'kill <id>'), commands['ctl']!([args[0]!, 'kill'], io)),
  alias: (args, io) => (need(args, 2, 'alias <id> <name>'), commands['ctl']!([args[0]!, 'alias', args[1]!], io)),

  async attach(args, io) {
    need(args, 1, 'attach <id>');
    if (args.length > 1) throw new UsageError('usage: anvillm attach <id>');
    const argv = await withClient(io, async (c) => {
      const id = await sessionId(c, args[0]!);
      const state = (await readSessionFile(c, id, 'state')).trim();
      if (state === 'exited') {
        throw new Error(`session ${id} has exited: there is no terminal to attach; \`anvillm read ${id} transcript\` shows what it did`);
      }
      return tokenize(await readSessionFile(c, id, 'attach'));
    });
    if (!process.stdin.isTTY) {
      throw new Error(`attach needs a terminal; from elsewhere run: ${quoteWords(argv)}`);
    }
    return new Promise((resolve) => {
      // tmux attaches this terminal; detaching (C-b d) ends it with status 0.
      const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit', env: io.env });
      child.on('exit', (code) => resolve(code ?? 1));
      child.on('error', (e) => {
        io.stderr(`anvillm attach: ${e.message}`);
        resolve(1);
      });
    });
  },

  async events(args, io) {
    if (args.length > 0) throw new UsageError('usage: anvillm events');
    return withClient(io, async (c) => {
      const events = await c.events();
      for await (const chunk of events.file.chunks()) process.stdout.write(chunk);
      return 0;
    });
  },
};

export const clientCommands = Object.fromEntries(
  Object.entries(commands).map(([name, run]) => [
    name,
    async (args: string[], io: CommandIO) => {
      if (args.includes('--help') || args.includes('-h')) {
        io.stdout(HELP[name] ?? `usage: anvillm ${name}`);
        return 0;
      }
      return run([...args], io);
    },
  ]),
);
