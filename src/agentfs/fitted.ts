/**
 * Every error agent/ sends fits a Rerror (ERRMAX, 127 bytes: plan9port's clients show no more)
 * and still says what failed and what to do: a node wrapped here turns whatever its code throws
 * into that short text, and logs the whole explanation when there was more to it (or when it was
 * not an error a client caused on purpose, such as a failure of tmux or of the file system).
 */
import type { DirNode, FileNode, Node, OpenFile } from '../ninep/tree.js';
import { explain } from '../protocol/protocol.js';

export type Log = (line: string) => void;

/** The error a client sees for `e`; logs what it does not see. */
export function refuse(log: Log, what: string, e: unknown): Error {
  const { rerror, detail } = explain(e);
  if (detail !== rerror || !(e instanceof Error) || e.constructor !== Error) log(`${what}: ${detail}`);
  return new Error(rerror);
}

function guard<T>(log: Log, what: string, f: () => T | Promise<T>): Promise<T> {
  try {
    return Promise.resolve(f()).catch((e: unknown) => {
      throw refuse(log, what, e);
    });
  } catch (e) {
    return Promise.reject(refuse(log, what, e));
  }
}

function openFile(file: OpenFile, log: Log, what: string): OpenFile {
  const { read, write, close } = file;
  return {
    ...(file.readsNeverWait !== undefined && { readsNeverWait: file.readsNeverWait }),
    ...(read && {
      read: (offset, count, signal) =>
        // A flushed read ends as the server asked: that is no error of ours to report.
        guard(log, what, () => read.call(file, offset, count, signal)).catch((e: unknown) => {
          throw signal.aborted ? signal.reason : e;
        }),
    }),
    ...(write && { write: (data, offset) => guard(log, what, () => write.call(file, data, offset)) }),
    ...(close && { close: (reason) => guard(log, what, () => close.call(file, reason)) }),
  };
}

/** `node`, and everything walked or opened from it, with errors that fit. `at` names it in the log. */
export function fitted(node: DirNode, log: Log, at: string): DirNode;
export function fitted(node: Node, log: Log, at: string): Node;
export function fitted(node: Node, log: Log, at: string): Node {
  const base = {
    qidPath: node.qidPath,
    stat: () => node.stat(),
    ...(node.wstat && { wstat: (c: Parameters<NonNullable<Node['wstat']>>[0]) => guard(log, at, () => node.wstat!(c)) }),
    ...(node.remove && { remove: () => guard(log, at, () => node.remove!()) }),
  };
  if (!node.isDir) {
    const file: FileNode = { ...base, isDir: false, open: (mode) => guard(log, at, async () => openFile(await node.open(mode), log, at)) };
    return file;
  }
  const child = (n: Node) => fitted(n, log, `${at}/${n.stat().name}`);
  const dir: DirNode = {
    ...base,
    isDir: true,
    lookup: (name) => guard(log, at, async () => {
      const n = await node.lookup(name);
      return n && child(n);
    }),
    children: () => guard(log, at, async () => [...(await node.children())].map(child)),
  };
  return dir;
}
