/**
 * agent/: every session as files (DESIGN §2). The tree is computed from the session manager at
 * walk and read time; files hold what they show per open, so a read is consistent however it is
 * split, and every error is the text a user (or 9pfuse's errno mapping) needs.
 */
import { ComputedDir, SnapshotFile, StaticDir, StreamFile } from '../ninep/files.js';
import type { DirNode, FileNode, Node, NodeStat, OpenFile, StatChange } from '../ninep/tree.js';
import { newQidPath } from '../ninep/tree.js';
import { ROOT_NAMES, aliasProblem } from '../session/ids.js';
import type { SessionManager } from '../session/manager.js';
import type { Session } from '../session/session.js';
import type { SessionEvent } from '../session/types.js';
import { lineField, quoteWords, tokenize } from './words.js';

/**
 * A control file: each line written is a command, run at once (its error fails the write);
 * what the commands answer can be read back on the same open (`new` answers the new id).
 */
class CommandFile implements FileNode {
  readonly isDir = false;
  readonly qidPath = newQidPath();

  constructor(
    private readonly name: string,
    private readonly run: (words: string[]) => Promise<string | void>,
  ) {}

  stat(): NodeStat {
    return { name: this.name, mode: 0o666, length: 0 };
  }

  /** `echo cmd > ctl` through 9pfuse truncates first: a control file has nothing to truncate. */
  wstat(change: StatChange): void {
    if ((change.length !== undefined && change.length !== 0) || change.name !== undefined || change.mode !== undefined) {
      throw new Error(`permission denied: ${this.name} only takes commands`);
    }
  }

  open(): OpenFile {
    // Offsets are ignored both ways: `9p rdwr` writes at the offset it has read to, and a reader
    // gets the answers not yet read, then end of file.
    let unread = Buffer.alloc(0);
    // A command ends at a newline outside quotes (a quoted word may hold one), and may come in
    // several writes: the unfinished rest waits for the next write, or for the clunk.
    let partial = '';
    const runComplete = async (final: boolean) => {
      for (;;) {
        const end = commandEnd(partial);
        if (end < 0 && !final) return;
        const command = end < 0 ? partial : partial.slice(0, end);
        partial = end < 0 ? '' : partial.slice(end + 1);
        if (command.trim() !== '') {
          const answer = await this.run(tokenize(command));
          if (answer) unread = Buffer.concat([unread, Buffer.from(`${answer}\n`)]);
        }
        if (end < 0) return;
      }
    };
    return {
      readsNeverWait: true,
      read: (_offset, count) => {
        const out = unread.subarray(0, count);
        unread = unread.subarray(out.length);
        return out;
      },
      write: async (data) => {
        partial += data.toString('utf8');
        // A write with no newline is one whole command (`9p rdwr` sends lines without theirs),
        // unless it stops inside quotes: then the rest is coming.
        await runComplete(commandEnd(partial) < 0 && !insideQuotes(partial));
      },
      close: async (reason) => {
        if (reason === 'clunk' && partial.trim() !== '') await runComplete(true).catch(() => {});
      },
    };
  }
}

/** Where the first command of `text` ends: its first newline outside single quotes, or -1. */
function commandEnd(text: string): number {
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "'") quoted = !quoted;
    else if (text[i] === '\n' && !quoted) return i;
  }
  return -1;
}

function insideQuotes(text: string): boolean {
  return (text.split("'").length - 1) % 2 === 1;
}

function trimNewlines(text: string): string {
  return text.replace(/\n+$/, '');
}

function value(name: string, read: () => string, perm = 0o444): SnapshotFile {
  return new SnapshotFile({ name, perm, read, length: () => Buffer.byteLength(read()) });
}

function eventLine(e: SessionEvent): string {
  switch (e.kind) {
    case 'new':
      return `${e.id} new ${e.backend} ${lineField(e.cwd)}\n`;
    case 'state':
      return `${e.id} state ${e.from} ${e.to}\n`;
    case 'alias':
      return `${e.id} alias ${e.alias}\n`;
    case 'out':
      return `${e.id} out\n`;
    case 'exit':
      return `${e.id} exit ${e.status ?? '-'}\n`;
    case 'error':
      return `${e.id} error ${lineField(e.text)}\n`;
    case 'gone':
      return `${e.id} gone\n`;
  }
}

const SESSION_CTL_USAGE = 'usage: stop | kill | close | restart | save [path] | load <path> | alias <name>';

function sessionDir(session: Session, manager: SessionManager): DirNode {
  const s = session;
  const line = (v: string | number | null) => (v === null || v === '' ? '' : `${v}\n`);
  const files: Node[] = [
    new SnapshotFile({
      name: 'in',
      perm: 0o222,
      allow: () => s.checkPrompt(''),
      check: (data, written) => s.checkPrompt(Buffer.concat([written, data]).toString('utf8')),
      commit: (data) => {
        const text = trimNewlines(data.toString('utf8'));
        if (text.trim() !== '') s.prompt(text);
      },
    }),
    value('out', () => s.out()),
    value('transcript', () => s.transcript()),
    new SnapshotFile({ name: 'screen', read: () => s.screen() }),
    value('err', () => s.err()),
    new CommandFile('ctl', async (words) => {
      const [cmd, ...args] = words;
      switch (cmd) {
        case 'stop':
          return void (await s.stop());
        case 'kill':
        case 'close':
          return void (await s.kill());
        case 'restart':
          return void (await s.restart());
        case 'save':
          if (args.length > 1) throw new Error(SESSION_CTL_USAGE);
          return s.save(args[0]);
        case 'load':
          if (args.length !== 1) throw new Error(SESSION_CTL_USAGE);
          return void (await s.load(args[0]!));
        case 'alias':
          if (args.length !== 1) throw new Error(SESSION_CTL_USAGE);
          return void s.setAlias(args[0]!);
        default:
          throw new Error(`unknown command "${cmd ?? ''}": ${SESSION_CTL_USAGE}`);
      }
    }),
    value('state', () => `${s.state}\n`),
    value('pid', () => line(s.pid || null)),
    value('cwd', () => line(s.cwd)),
    value('backend', () => line(s.backend)),
    value('attach', () => `${quoteWords(s.attachCommand())}\n`),
    new SnapshotFile({
      name: 'alias',
      perm: 0o666,
      read: () => line(s.alias),
      length: () => Buffer.byteLength(line(s.alias)),
      check: (data, written) => {
        const alias = trimNewlines(Buffer.concat([written, data]).toString('utf8'));
        const problem = aliasProblem(alias);
        if (problem) throw new Error(problem);
        const other = manager.get(alias);
        if (other && other !== s) throw new Error(`alias "${alias}" already exists: pick another`);
      },
      commit: (data) => s.setAlias(trimNewlines(data.toString('utf8'))),
    }),
    new SnapshotFile({
      name: 'winid',
      perm: 0o666,
      read: () => line(s.winid),
      length: () => Buffer.byteLength(line(s.winid)),
      check: (data, written) => {
        const text = trimNewlines(Buffer.concat([written, data]).toString('utf8')).trim();
        if (text !== '' && !/^\d+$/.test(text)) throw new Error(`winid "${text}" is not a window number: illegal argument`);
      },
      commit: (data) => {
        const text = data.toString('utf8').trim();
        s.setWinid(text === '' ? null : Number(text));
      },
    }),
    new SnapshotFile({
      name: 'context',
      perm: 0o666,
      read: () => s.context,
      length: () => Buffer.byteLength(s.context),
      commit: (data) => {
        s.context = trimNewlines(data.toString('utf8'));
      },
    }),
  ];
  return new StaticDir(s.id, files, 0o555);
}

/** The agent/ tree over `manager`. */
export function agentTree(manager: SessionManager): DirNode {
  const dirs = new Map<string, DirNode>();
  // A killed session's directory goes with it (an open fid keeps its own node).
  manager.subscribe((e) => {
    if (e.kind === 'gone') dirs.delete(e.id);
  });
  const dirOf = (s: Session): DirNode => {
    let d = dirs.get(s.id);
    if (!d) dirs.set(s.id, (d = sessionDir(s, manager)));
    return d;
  };
  const ctl = new CommandFile('ctl', async (words) => {
    const [cmd, backend, cwd, alias, ...rest] = words;
    if (cmd !== 'new') throw new Error(`unknown command "${cmd ?? ''}": usage: new <backend> <cwd> [alias]`);
    if (!backend || !cwd || rest.length > 0) throw new Error('usage: new <backend> <cwd> [alias]');
    const session = await manager.create(backend, cwd, alias);
    return session.id;
  });
  const listText = () =>
    manager
      .list()
      .map((i) => `${i.id}\t${i.backend}\t${i.state}\t${i.pid ?? '-'}\t${i.alias ?? '-'}\t${lineField(i.cwd)}\n`)
      .join('');
  const backendsText = () =>
    manager
      .backends()
      .map((b) => `${b.name}\t${b.label}\t${b.available ? 'available' : 'missing'}\t${lineField(b.command)}\n`)
      .join('');
  // list is cheap to compute, so its stat carries its length, as 9pfuse's `cat` wants; backends
  // reads the backend files and searches PATH, so its stat says 0 (9pfuse's cat reads it anyway).
  const list = value('list', listText);
  const backends = new SnapshotFile({ name: 'backends', read: backendsText });
  const events = new StreamFile({ name: 'events', subscribe: (push) => manager.subscribe((e) => push(eventLine(e))) });
  const fixed = new Map<string, Node>([
    ['ctl', ctl],
    ['list', list],
    ['backends', backends],
    ['events', events],
  ]);
  if ([...fixed.keys()].some((k) => !(ROOT_NAMES as readonly string[]).includes(k))) throw new Error('ROOT_NAMES out of date');
  return new ComputedDir({
    name: 'agent',
    lookup: (name) => {
      const f = fixed.get(name);
      if (f) return f;
      const s = manager.get(name);
      return s ? dirOf(s) : undefined;
    },
    children: () => [...fixed.values(), ...manager.list().map((i) => dirOf(manager.get(i.id)!))],
  });
}
