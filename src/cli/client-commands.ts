/**
 * The anvillm client subcommands: each a few 9P operations on agent/ through our client, so no
 * plan9port is needed. Exit 0 ok, 1 error (message on stderr), 2 usage.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';

import { parseList, quoteWords, tokenize } from '../agentfs/words.js';
import { Client, NinepError } from '../ninep/client.js';
import { OREAD, ORDWR } from '../ninep/constants.js';
import { namespaceDir } from '../ninep/namespace.js';
import { UsageError, type CommandIO } from './io.js';

export const CLIENT_USAGE = `  ls [--json]                 the sessions
  new <backend> <dir> [--alias a]
                              start a session; prints its id
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
  new: `usage: anvillm new <backend> <dir> [--alias a]

Starts a session of <backend> (see agent/backends) in <dir> and prints its id.`,
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
leaves the list (a session that exited by itself stays listed until killed or restarted).`,
  alias: `usage: anvillm alias <id|alias> <name>

Names the session: letters, digits, _ and -, unique, not 8 hex digits.`,
  attach: `usage: anvillm attach <id|alias>

Attaches this terminal to the session's tmux window, to answer what the agent asks at its
terminal. Detach with C-b d: the agent keeps running.`,
  events: `usage: anvillm events

Prints every event from now on, one per line, until interrupted:
  <id> new <backend> <cwd> | state <old> <new> | alias <name> | out | exit <status> | error <text>
  | gone (killed: it has left the list)`,
};

async function connect(io: CommandIO): Promise<Client> {
  try {
    return await Client.dial('agent', { env: io.env });
  } catch {
    throw new Error(`no daemon is serving ${path.join(namespaceDir(io.env), 'agent')}: start one with \`anvillm daemon start\` (or \`anvillm serve\` in the foreground)`);
  }
}

async function withClient<T>(io: CommandIO, f: (c: Client) => Promise<T>): Promise<T> {
  const c = await connect(io);
  try {
    return await f(c);
  } finally {
    c.close();
  }
}

const SESSION_FILES = 'in out transcript screen err ctl state pid cwd backend attach alias winid context';

function notFound(e: unknown): boolean {
  return e instanceof NinepError && /does not exist/.test(e.message);
}

/** The id of the session named `who` (an id or an alias), or an error saying how to find one. */
async function sessionId(c: Client, who: string): Promise<string> {
  const bad = who === '' || who.includes('/') || ['ctl', 'list', 'backends', 'events'].includes(who);
  try {
    if (!bad) return (await c.stat(who)).name;
  } catch (e) {
    if (!notFound(e)) throw e;
  }
  throw new Error(`no session "${who}": \`anvillm ls\` lists the sessions, by id and alias`);
}

/** A file of a session, read whole; a missing file is named with the ones there are. */
async function readSessionFile(c: Client, id: string, file: string): Promise<Buffer> {
  try {
    return await c.readFile(`${id}/${file}`);
  } catch (e) {
    if (notFound(e)) throw new Error(`session ${id} has no file "${file}"; it has: ${SESSION_FILES}`);
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

/** Waits on an open events file until `match` accepts a line. */
async function awaitEvent(events: Awaited<ReturnType<Client['open']>>, match: (words: string[]) => boolean, timeoutMs?: number): Promise<void> {
  const controller = new AbortController();
  const timer = timeoutMs ? setTimeout(() => controller.abort(new Error('timed out')), timeoutMs) : null;
  try {
    let pending = '';
    for await (const chunk of events.chunks({ signal: controller.signal })) {
      pending += chunk.toString();
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (match(line.split(' '))) return;
      }
    }
    throw new Error('the daemon closed the event stream');
  } finally {
    if (timer) clearTimeout(timer);
  }
}

const commands: Record<string, (args: string[], io: CommandIO) => Promise<number>> = {
  async ls(args, io) {
    const json = flag(args, '--json');
    if (args.length > 0) throw new UsageError('usage: anvillm ls [--json]');
    const text = await withClient(io, async (c) => (await c.readFile('list')).toString());
    const rows = parseList(text).map((l) => ({ ...l, pid: l.pid === '-' ? null : Number(l.pid) }));
    if (json) io.stdout(JSON.stringify(rows, null, 2));
    else for (const r of rows) io.stdout([r.id, r.backend.padEnd(8), r.state.padEnd(8), String(r.pid ?? '-').padEnd(7), (r.alias ?? '-').padEnd(12), r.cwd].join(' '));
    return 0;
  },

  async new(args, io) {
    const alias = option(args, '--alias');
    need(args, 2, 'new <backend> <dir> [--alias a]');
    if (args.length > 2) throw new UsageError('usage: anvillm new <backend> <dir> [--alias a]');
    const words = ['new', args[0]!, path.resolve(args[1]!), ...(alias ? [alias] : [])];
    const id = await withClient(io, async (c) => {
      const ctl = await c.open('ctl', ORDWR);
      try {
        await ctl.write(`${quoteWords(words)}\n`);
        return (await ctl.read()).toString().trim();
      } finally {
        await ctl.close();
      }
    });
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
      const events = wait ? await c.open('events', OREAD) : null;
      try {
        await c.writeFile(`${id}/in`, text);
        if (events) {
          // The answer is the next "out" (prompts queued ahead answer first: send one at a time).
          let ended = '';
          await awaitEvent(events, (w) => {
            if (w[0] === id && (w[1] === 'exit' || w[1] === 'error' || w[1] === 'gone')) ended = w.slice(1).join(' ');
            return w[0] === id && (w[1] === 'out' || ended !== '');
          });
          if (ended) throw new Error(`session ${id} ended before answering (${ended}); see ${id}/err`);
          io.stdout((await c.readFile(`${id}/out`)).toString());
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
    const data = await withClient(io, async (c) => (await readSessionFile(c, await sessionId(c, who!), file)).toString());
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
      const events = await c.open('events', OREAD); // first, so no change is missed
      try {
        let now = (await c.readFile(`${id}/state`)).toString().trim();
        if (now !== state) {
          try {
            await awaitEvent(events, (w) => {
              if (w[0] === id && w[1] === 'state') now = w[3] ?? now;
              if (w[0] === id && w[1] === 'gone' && now !== state) throw new Error(`session ${id} was killed while ${now} (waited for ${state})`);
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
        await events.close().catch(() => {});
      }
    });
  },

  async ctl(args, io) {
    need(args, 2, 'ctl <id> <command…>');
    const [who, ...words] = args;
    const answer = await withClient(io, async (c) => {
      const ctl = await c.open(`${await sessionId(c, who!)}/ctl`, ORDWR);
      try {
        await ctl.write(`${quoteWords(words)}\n`);
        return (await ctl.read()).toString();
      } finally {
        await ctl.close();
      }
    });
    if (answer) io.stdout(answer.replace(/\n$/, ''));
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
      const state = (await readSessionFile(c, id, 'state')).toString().trim();
      if (state === 'exited') {
        throw new Error(`session ${id} has exited: there is no terminal to attach; \`anvillm read ${id} transcript\` shows what it did`);
      }
      return tokenize((await readSessionFile(c, id, 'attach')).toString());
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
      const events = await c.open('events', OREAD);
      for await (const chunk of events.chunks()) process.stdout.write(chunk);
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
