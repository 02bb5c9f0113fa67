/** The checks on names and removal, and wstat(5): every field validated, then all or nothing. */
import { DMDIR } from './constants.js';
import { Errors } from './errors.js';
import type { Fid } from './fids.js';
import type { Maybe } from './maybe.js';
import { andThen } from './maybe.js';
import type { Stat } from './messages.js';
import { DONT_TOUCH } from './messages.js';
import type { Server } from './server.js';
import type { DirNode, Node, StatChange } from './tree.js';

/** Linux's NAME_MAX: longer names could not be listed (a stat entry is at most 65535 bytes). */
const MAX_NAME_BYTES = 255;

export function validName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0');
}

/** A name a client may give a new file or a rename. */
export function checkNewName(name: string): void {
  if (!validName(name)) throw new Error(Errors.badName(name));
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) throw new Error(Errors.nameTooLong(MAX_NAME_BYTES));
}

export function checkRemovable(path: Node[]): void {
  if (path.length < 2) throw new Error(Errors.removeRoot);
  const node = path[path.length - 1]!;
  const parent = path[path.length - 2]!.stat();
  if ((parent.mode & 0o200) === 0) throw new Error(Errors.permission(parent.name, 'is not writable'));
  if (!node.remove) throw new Error(Errors.permission(node.stat().name, 'cannot be removed'));
}

export function wstat(server: Server, fid: Fid, want: Stat): Maybe<void> {
  const node = fid.node;
  const cur = server.statOf(node);
  const change = fixedFieldsKept(cur, want, node);
  const name = cur.name;
  if (want.name === '' || want.name === name) return apply(node, name, withTimesAndGroup(change, cur, want));
  checkNewName(want.name);
  if (fid.path.length < 2) throw new Error(Errors.wstatUnsupported(name, 'its name'));
  const parent = fid.path[fid.path.length - 2] as DirNode;
  if ((parent.stat().mode & 0o200) === 0) throw new Error(Errors.permission(parent.stat().name, 'is not writable'));
  return andThen(parent.lookup(want.name), (existing) => {
    if (existing) throw new Error(Errors.exists(want.name));
    change.name = want.name;
    return apply(node, name, withTimesAndGroup(change, cur, want));
  });
}

/** The mode and length `want` changes; throws if it touches what cannot change. */
function fixedFieldsKept(cur: Stat, want: Stat, node: Node): StatChange {
  const name = cur.name;
  const refuse = (what: string) => new Error(Errors.wstatUnsupported(name, what));
  if (want.type !== DONT_TOUCH.u16 && want.type !== cur.type) throw refuse('its type');
  if (want.dev !== DONT_TOUCH.u32 && want.dev !== cur.dev) throw refuse('its dev');
  const q = want.qid;
  const qidUntouched = q.type === DONT_TOUCH.qid.type && q.version === DONT_TOUCH.qid.version && q.path === DONT_TOUCH.qid.path;
  if (!qidUntouched && (q.path !== cur.qid.path || q.type !== cur.qid.type || q.version !== cur.qid.version)) throw refuse('its qid');
  if (want.uid !== '' && want.uid !== cur.uid) throw refuse('its owner');
  const change: StatChange = {};
  if (want.mode !== DONT_TOUCH.u32 && want.mode !== cur.mode) {
    if (((want.mode ^ cur.mode) & DMDIR) !== 0) throw refuse('whether it is a directory');
    change.mode = want.mode >>> 0;
  }
  if (want.length !== DONT_TOUCH.u64) {
    if (node.isDir) {
      if (want.length !== 0n) throw new Error(Errors.isDir(name));
    } else {
      if ((cur.mode & 0o200) === 0) throw new Error(Errors.permission(name, 'is not writable'));
      if (want.length > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(Errors.offsetTooLarge);
      change.length = Number(want.length);
    }
  }
  return change;
}

function withTimesAndGroup(change: StatChange, cur: Stat, want: Stat): StatChange {
  if (want.gid !== '' && want.gid !== cur.gid) change.gid = want.gid;
  if (want.atime !== DONT_TOUCH.u32) change.atime = want.atime;
  if (want.mtime !== DONT_TOUCH.u32) change.mtime = want.mtime;
  return change;
}

function apply(node: Node, name: string, change: StatChange): Maybe<void> {
  const fields = Object.keys(change);
  if (fields.length === 0) return;
  if (node.wstat) return node.wstat(change);
  const substantive = fields.filter((f) => f !== 'atime' && f !== 'mtime');
  if (substantive.length > 0) throw new Error(Errors.wstatUnsupported(name, substantive.join(' and ')));
}
