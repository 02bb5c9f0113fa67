/**
 * agent/: every session as files (DESIGN §2). The tree is computed from the session manager at
 * walk and read time; files hold what they show per open, so a read is consistent however it is
 * split, and every error is the text a user (or 9pfuse's errno mapping) needs.
 */
import { ComputedDir, SnapshotFile, StaticDir, StreamFile } from '../ninep/files.js';
import type { DirNode, Node } from '../ninep/tree.js';
import { NEW_USAGE, SESSION_CTL_USAGE, SESSION_FILES, WORKTREE_FILES, backendLine, eventLine, isRootName, listLine, newOptions, unknownCommand } from '../protocol/protocol.js';
import { quoteWords } from '../protocol/words.js';
import type { SessionManager } from '../session/manager.js';
import type { Session } from '../session/session.js';
import { CommandFile } from './command-file.js';
import { fitted, type Log } from './fitted.js';
import { worktreeFiles } from './worktree-files.js';

function trimNewlines(text: string): string {
  return text.replace(/\n+$/, '');
}

function value(name: string, read: () => string, perm = 0o444): SnapshotFile {
  return new SnapshotFile({ name, perm, read, length: () => Buffer.byteLength(read()) });
}

/** Bytes of a prompt checked as it is written: enough for any slash command and its words. */
const PROMPT_HEAD = 4096;

/** A value file's text: the value and a newline, or nothing for none. */
function line(v: string | number | null): string {
  return v === null || v === '' ? '' : `${v}\n`;
}

/** in: a prompt per write, checked as it arrives so that the write itself can fail. */
function inFile(s: Session): SnapshotFile {
  return new SnapshotFile({
    name: 'in',
    perm: 0o222,
    allow: () => s.checkPrompt(''),
    // Its head is what the checks look at (a slash command): later writes are not rescanned.
    check: (data, written) => {
      if (written.length < PROMPT_HEAD) s.checkPrompt(Buffer.concat([written, data]).subarray(0, PROMPT_HEAD).toString('utf8'));
    },
    commit: (data) => {
      const text = trimNewlines(data.toString('utf8'));
      if (text.trim() !== '') s.prompt(text);
    },
  });
}

/** A session's ctl: its lifecycle commands. */
function ctlFile(s: Session, manager: SessionManager): CommandFile {
  return new CommandFile('ctl', async (words) => {
    const [cmd, ...args] = words;
    switch (cmd) {
      case 'stop':
        return void (await s.stop());
      case 'kill':
      case 'close':
        return manager.kill(s); // a worktree session answers what it kept
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
        throw new Error(unknownCommand(cmd, SESSION_CTL_USAGE));
    }
  });
}

/** The files a user writes to set a value: alias, winid, context. */
function settableFiles(s: Session, manager: SessionManager): SnapshotFile[] {
  const alias = new SnapshotFile({
    name: 'alias',
    perm: 0o666,
    maxBytes: 1024,
    read: () => line(s.alias),
    length: () => Buffer.byteLength(line(s.alias)),
    check: (data, written) => {
      const problem = manager.aliasRefusal(trimNewlines(Buffer.concat([written, data]).toString('utf8')), s);
      if (problem) throw new Error(problem);
    },
    commit: (data) => s.setAlias(trimNewlines(data.toString('utf8'))),
  });
  const winid = new SnapshotFile({
    name: 'winid',
    perm: 0o666,
    maxBytes: 64,
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
  });
  const context = new SnapshotFile({
    name: 'context',
    perm: 0o666,
    read: () => s.context,
    length: () => Buffer.byteLength(s.context),
    commit: (data) => {
      s.context = trimNewlines(data.toString('utf8'));
    },
  });
  return [alias, winid, context];
}

function sessionDir(s: Session, manager: SessionManager): DirNode {
  const files: Node[] = [
    inFile(s),
    value('out', () => s.out()),
    value('transcript', () => s.transcript()),
    new SnapshotFile({ name: 'screen', read: () => s.screen() }),
    value('err', () => s.err()),
    ctlFile(s, manager),
    value('state', () => `${s.state}\n`),
    value('pid', () => line(s.pid || null)),
    value('cwd', () => line(s.cwd)),
    value('backend', () => line(s.backend)),
    value('attach', () => `${quoteWords(s.attachCommand())}\n`),
    ...settableFiles(s, manager),
    ...worktreeFiles(manager, s.id),
  ];
  const names: readonly string[] = manager.worktree(s.id) ? [...SESSION_FILES, ...WORKTREE_FILES] : SESSION_FILES;
  if (files.some((f, i) => f.stat().name !== names[i]) || files.length !== names.length) throw new Error('SESSION_FILES out of date');
  return new StaticDir(s.id, files, 0o555);
}

export interface AgentTreeOptions {
  /** Where the whole text of an error goes when the client gets a shortened one (the daemon's log). */
  log?: Log;
}

/** The agent/ tree over `manager`. */
export function agentTree(manager: SessionManager, options: AgentTreeOptions = {}): DirNode {
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
    const [cmd, backend, cwd, ...rest] = words;
    if (cmd !== 'new') throw new Error(unknownCommand(cmd, NEW_USAGE));
    const options = newOptions(rest);
    if (!backend || !cwd || !options) throw new Error(NEW_USAGE);
    const session = await manager.create(backend, cwd, options.alias, options.worktree);
    return session.id;
  });
  const listText = () =>
    manager
      .list()
      .map(listLine)
      .join('');
  const backendsText = () =>
    manager
      .backends()
      .map(backendLine)
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
  if ([...fixed.keys()].some((k) => !isRootName(k))) throw new Error('ROOT_NAMES out of date');
  const root = new ComputedDir({
    name: 'agent',
    lookup: (name) => {
      const f = fixed.get(name);
      if (f) return f;
      const s = manager.get(name);
      return s ? dirOf(s) : undefined;
    },
    children: () => [...fixed.values(), ...manager.list().map((i) => dirOf(manager.get(i.id)!))],
  });
  return fitted(root, options.log ?? (() => {}), 'agent');
}
