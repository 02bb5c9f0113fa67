/**
 * agent/'s protocol (DESIGN §2), both sides of it: the names in the tree, the rules for ids and
 * aliases, the usage texts of the ctl files, how errors fit a Rerror, and the line formats of
 * `list`, `backends` and `events`, each writer beside its parser. The daemon's tree
 * (src/agentfs) writes with these; the anvillm command, anvillm-notify and Assist read with them.
 * It sits below src/session (which checks aliases by the same rule) and imports nothing else of
 * the project, so every layer can use it.
 */
import { lineField, unLineField } from './words.js';

// ---- Names ----

/** The files of agent/ itself: no alias may shadow them. */
export const ROOT_NAMES = ['ctl', 'list', 'backends', 'events'] as const;

/** A session's files, in directory order. */
export const SESSION_FILES = ['in', 'out', 'transcript', 'screen', 'err', 'ctl', 'state', 'pid', 'cwd', 'backend', 'attach', 'alias', 'winid', 'context'] as const;
export type SessionFile = (typeof SESSION_FILES)[number];
/** A worktree session's files, after SESSION_FILES: its branch, its base commit, its changes since. */
export const WORKTREE_FILES = ['branch', 'base', 'diff'] as const;
export type WorktreeFile = (typeof WORKTREE_FILES)[number];

const ID = /^[0-9a-f]{8}$/;
const ALIAS = /^[A-Za-z0-9_-]+$/;
/** Every `list` line and event carries the alias: it stays short. */
export const ALIAS_MAX = 64;

export function isId(text: string): boolean {
  return ID.test(text);
}

export function isRootName(name: string): boolean {
  return (ROOT_NAMES as readonly string[]).includes(name);
}

/** Why `alias` cannot name a session, or null when it can (uniqueness is the manager's). */
export function aliasProblem(alias: string): string | null {
  if (alias.length > ALIAS_MAX) return `bad alias "${alias}": at most ${ALIAS_MAX} characters`;
  if (!ALIAS.test(alias)) return `bad alias "${alias}": use letters, digits, - and _`;
  if (ID.test(alias)) return `bad alias "${alias}": 8 hex characters look like a session id`;
  if (isRootName(alias)) return `bad alias "${alias}": it is a file in agent/`;
  return null;
}

export function aliasTakenError(alias: string): string {
  return `alias "${alias}" already exists: pick another`;
}

// ---- ctl ----

export const NEW_USAGE = 'usage: new <backend> <cwd> [alias] [worktree[=<branch>]]';
export const SESSION_CTL_USAGE = 'usage: stop | kill | close | restart | save [path] | load <path> | alias <name>';

/** What `new` asks for after `<backend> <cwd>`: an alias, a worktree (on `branch`, or the default one). */
export interface NewOptions {
  alias?: string;
  worktree?: { branch?: string };
}

/** The words after `new <backend> <cwd>` for `options`. */
export function newWords(options: NewOptions): string[] {
  const { alias, worktree } = options;
  return [...(alias !== undefined ? [alias] : []), ...(worktree ? [worktree.branch !== undefined ? `worktree=${worktree.branch}` : 'worktree'] : [])];
}

/**
 * The words after `new <backend> <cwd>`: `[alias] [worktree[=<branch>]]`, or null when they are
 * not that. The last word is the worktree option when it is `worktree` or starts `worktree=` (an
 * alias cannot hold `=`), so an alias named worktree is given as `... worktree worktree`.
 */
export function newOptions(words: string[]): NewOptions | null {
  const last = words.at(-1);
  const m = last === undefined ? null : /^worktree(?:=(.*))?$/s.exec(last);
  const rest = m ? words.slice(0, -1) : words;
  if (rest.length > 1 || m?.[1] === '') return null;
  return {
    ...(rest[0] !== undefined ? { alias: rest[0] } : {}),
    ...(m ? { worktree: m[1] !== undefined ? { branch: m[1] } : {} } : {}),
  };
}

export function unknownCommand(cmd: string | undefined, usage: string): string {
  return `unknown command "${cmd ?? ''}": ${usage}`;
}

// ---- Errors ----

/** plan9port's ERRMAX is 128 with the NUL: its clients show at most this many bytes of a Rerror. */
export const ERRMAX = 127;

/**
 * An error that says in a Rerror what failed and what to do (`message`, which fits ERRMAX), and
 * keeps the whole explanation in `detail`: the daemon logs it, and a read on the ctl open whose
 * command failed returns it, so the anvillm command and Assist show it whole.
 */
export class ExplainedError extends Error {
  override name = 'ExplainedError';
  constructor(
    message: string,
    readonly detail: string,
  ) {
    super(message);
  }
}

const bytes = (s: string) => Buffer.byteLength(s);
/** Words this long or shorter are kept whole: they are the frame of the message, not its payload. */
const WORD_KEPT = 16;

/** `word` with its middle replaced by "…", at least `by` bytes shorter where it can be. */
function shortenWord(word: string, by: number): string {
  const chars = Array.from(word);
  const target = bytes(word) - by;
  let keep = Math.min(chars.length - 2, Math.max(WORD_KEPT - 1, Math.floor(((target - 3) * chars.length) / bytes(word))));
  const cut = (n: number) => `${chars.slice(0, Math.ceil(n / 2)).join('')}…${chars.slice(chars.length - Math.floor(n / 2)).join('')}`;
  while (keep > WORD_KEPT - 1 && bytes(cut(keep)) > target) keep--;
  return cut(keep);
}

/**
 * `message` as a Rerror: one line, at most ERRMAX bytes. Long words (paths, names, quoted input)
 * lose their middles first, so the words around them — what failed, what to do — stay; only
 * then is the end cut.
 */
export function fitError(message: string, max = ERRMAX): string {
  let text = message.replace(/\s*\n\s*/g, ' ').trim() || 'internal error';
  while (bytes(text) > max) {
    const words = text.split(/(\s+)/);
    let longest = -1;
    for (let i = 0; i < words.length; i += 2) if (Array.from(words[i]!).length > WORD_KEPT && (longest < 0 || words[i]!.length > words[longest]!.length)) longest = i;
    if (longest < 0) break;
    words[longest] = shortenWord(words[longest]!, bytes(text) - max);
    text = words.join('');
  }
  if (bytes(text) <= max) return text;
  let cut = '';
  for (const c of text) {
    if (bytes(cut) + bytes(c) > max - 3) break;
    cut += c;
  }
  return `${cut}…`;
}

/** What a client sees of an error (`rerror`), and the whole of it (`detail`). */
export function explain(e: unknown): { rerror: string; detail: string } {
  const message = e instanceof Error ? e.message : String(e);
  return { rerror: fitError(message), detail: e instanceof ExplainedError ? `${e.message}\n${e.detail}` : message };
}

// ---- list ----

/** A line of agent/list: id backend state pid alias cwd ("-" for no pid or alias). */
export interface ListLine {
  id: string;
  backend: string;
  state: string;
  pid: string;
  alias: string | null;
  cwd: string;
}

export function listLine(s: { id: string; backend: string; state: string; pid: number | null; alias: string | null; cwd: string }): string {
  return `${s.id}\t${s.backend}\t${s.state}\t${s.pid ?? '-'}\t${s.alias ?? '-'}\t${lineField(s.cwd)}\n`;
}

export function parseList(text: string): ListLine[] {
  return lines(text).map((l) => {
    const [id, backend, state, pid, alias, cwd] = l.split('\t').map(unLineField);
    return { id: id!, backend: backend!, state: state!, pid: pid!, alias: alias === '-' || alias === undefined ? null : alias, cwd: cwd ?? '' };
  });
}

// ---- backends ----

/** A line of agent/backends: name label available|missing command. */
export interface BackendLine {
  name: string;
  /** The Acme tag word. */
  label: string;
  available: boolean;
  command: string;
}

export function backendLine(b: BackendLine): string {
  return `${b.name}\t${b.label}\t${b.available ? 'available' : 'missing'}\t${lineField(b.command)}\n`;
}

export function parseBackends(text: string): BackendLine[] {
  return lines(text).map((l) => {
    const [name, label, available, command] = l.split('\t').map(unLineField);
    return { name: name!, label: label!, available: available === 'available', command: command ?? '' };
  });
}

// ---- events ----

/** An event as agent/events carries it; the session layer's SessionEvent is this with its State. */
export type AgentEvent<S extends string = string> =
  | { id: string; kind: 'new'; backend: string; cwd: string }
  /** `signalAt`: when the agent gave the signal that made the change (ms since the epoch), if one did; not on the wire. */
  | { id: string; kind: 'state'; from: S; to: S; signalAt?: number }
  | { id: string; kind: 'alias'; alias: string }
  | { id: string; kind: 'out' }
  | { id: string; kind: 'exit'; status: number | null }
  | { id: string; kind: 'error'; text: string }
  /** Killed, its processes gone: it has left list and agent/. */
  | { id: string; kind: 'gone' };

/** The line after the id: `state idle running`, `exit 0`, … */
export function eventText(e: AgentEvent): string {
  switch (e.kind) {
    case 'new':
      return `new ${e.backend} ${lineField(e.cwd)}`;
    case 'state':
      return `state ${e.from} ${e.to}`;
    case 'alias':
      return `alias ${e.alias}`;
    case 'out':
      return 'out';
    case 'exit':
      return `exit ${e.status ?? '-'}`;
    case 'error':
      return `error ${lineField(e.text)}`;
    case 'gone':
      return 'gone';
  }
}

export function eventLine(e: AgentEvent): string {
  return `${e.id} ${eventText(e)}\n`;
}

type Parsers = { [K in AgentEvent['kind']]: (w: string[], rest: (n: number) => string) => Omit<Extract<AgentEvent, { kind: K }>, 'id' | 'kind'> };

/** One parser per kind (a kind added to AgentEvent without one does not compile). */
const PARSERS: Parsers = {
  new: (w, rest) => ({ backend: w[2] ?? '', cwd: rest(3) }),
  state: (w) => ({ from: w[2] ?? '', to: w[3] ?? '' }),
  alias: (w) => ({ alias: w[2] ?? '' }),
  out: () => ({}),
  exit: (w) => ({ status: w[2] === '-' || w[2] === undefined ? null : Number(w[2]) }),
  error: (_w, rest) => ({ text: rest(2) }),
  gone: () => ({}),
};

/** An event line (without its newline), or null for a line this client does not know. */
export function parseEvent(line: string): AgentEvent | null {
  const w = line.split(' ');
  const [id = '', kind = ''] = w;
  if (!Object.hasOwn(PARSERS, kind)) return null;
  const fields = PARSERS[kind as AgentEvent['kind']](w, (n) => unLineField(w.slice(n).join(' ')));
  return { id, kind, ...fields } as AgentEvent;
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}
