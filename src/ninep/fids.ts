/**
 * A fid: what a client's number stands for on one connection — a path from the root, and, once
 * opened, the open file. Its close aborts the reads that wait and waits for the other requests
 * still running on the open file, as lib9p's reference-counted fids do: a clunk never closes a
 * file under a write.
 */
import { Buffer } from 'node:buffer';
import { ORCLOSE } from './constants.js';
import { Errors } from './errors.js';
import type { Maybe } from './maybe.js';
import { andThen, isPromise } from './maybe.js';
import type { Stat } from './messages.js';
import { encodeStat } from './serializer.js';
import type { CloseReason, DirNode, Node, OpenFile } from './tree.js';

export interface DirReadState {
  entries: Buffer[];
  index: number;
  offset: number;
}

export interface OpenState {
  mode: number;
  file: OpenFile | null;
  dir: DirReadState | null;
}

export class Fid {
  open: OpenState | null = null;
  /** Reads that may wait: aborted when the fid goes away. Made on first use (most fids never wait). */
  private waiting: Set<AbortController> | null = null;
  /** Requests on the open file that have not answered yet (but reads that may wait: they are aborted). */
  private running: Set<Promise<unknown>> | null = null;

  /** From the root to the node this fid stands for: `..` walks back along it. */
  constructor(public path: Node[]) {}

  get node(): Node {
    return this.path[this.path.length - 1]!;
  }

  /** A controller for a read that may wait; pass it to `settled` when the read is over. */
  abortable(): AbortController {
    const c = new AbortController();
    (this.waiting ??= new Set()).add(c);
    return c;
  }

  settled(c: AbortController): void {
    this.waiting?.delete(c);
  }

  /** Counts `v` as running on the open file until it settles. */
  track<T>(v: Maybe<T>): Maybe<T> {
    if (!isPromise(v)) return v;
    const running = (this.running ??= new Set());
    running.add(v);
    const forget = () => running.delete(v);
    v.then(forget, forget);
    return v;
  }

  /** Ends the open: waiting reads are aborted, running requests finished, then the file closed. */
  release(reason: CloseReason): Maybe<void> {
    if (this.waiting && this.waiting.size > 0) {
      const interrupted = new Error(Errors.interrupted);
      for (const c of this.waiting) c.abort(interrupted);
      this.waiting.clear();
    }
    const open = this.open;
    this.open = null;
    if (!open) return;
    const node = this.node;
    if (this.running && this.running.size > 0) return Promise.allSettled([...this.running]).then(() => closeOpen(open, node, reason));
    return closeOpen(open, node, reason);
  }
}

/** Closes the file of an open, then removes its node if it was opened ORCLOSE. */
function closeOpen(open: OpenState, node: Node, reason: CloseReason): Maybe<void> {
  const closed = open.file?.close?.(reason);
  return open.mode & ORCLOSE ? andThen(closed, () => node.remove?.()) : closed;
}

export function openDir(mode: number): OpenState {
  return { mode, file: null, dir: { entries: [], index: 0, offset: 0 } };
}

/** Whole stat entries from `offset`, which must be 0 (a fresh listing) or where the last read ended. */
export function readDir(dir: DirNode, state: DirReadState, offset: number, count: number, statOf: (n: Node) => Stat): Maybe<Uint8Array> {
  if (offset === 0) {
    return andThen(dir.children(), (children) => {
      state.entries = [];
      for (const child of children) state.entries.push(encodeStat(statOf(child)));
      state.index = 0;
      state.offset = 0;
      return nextEntries(state, count);
    });
  }
  if (offset !== state.offset) throw new Error(Errors.dirOffset);
  return nextEntries(state, count);
}

function nextEntries(state: DirReadState, count: number): Uint8Array {
  const parts: Buffer[] = [];
  let n = 0;
  while (state.index < state.entries.length && n + state.entries[state.index]!.length <= count) {
    const entry = state.entries[state.index++]!;
    parts.push(entry);
    n += entry.length;
  }
  if (parts.length === 0 && state.index < state.entries.length) throw new Error(Errors.dirCountTooSmall(count));
  state.offset += n;
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
}
