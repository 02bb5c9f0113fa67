/** Process trees from /proc, read directly (never by spawning pgrep on every check). */
import fs from 'node:fs';
import path from 'node:path';

/** Every process's parent, now. */
function parents(): Map<number, number> {
  const parentOf = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'latin1');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parentOf.set(Number(entry), ppid);
    } catch {
      // gone meanwhile
    }
  }
  return parentOf;
}

/** Every descendant of `pid` (not `pid` itself). */
export function descendants(pid: number, parentOf = parents()): number[] {
  const out: number[] = [];
  const frontier = [pid];
  while (frontier.length > 0) {
    const parent = frontier.pop()!;
    for (const [child, ppid] of parentOf) {
      if (ppid === parent) {
        out.push(child);
        frontier.push(child);
      }
    }
  }
  return out;
}

/**
 * What tells the process `pid` from a later one given the same pid (its start, in clock ticks
 * after boot): "is this still the process we saw?" is `processIdentity(pid) === before`. Null if
 * it is gone (or a zombie).
 */
export function processIdentity(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // A zombie is gone: it only waits for its parent to read its status (pid 1 of some
    // containers never does), and its pid is not reused meanwhile.
    if (fields[0] === 'Z') return null;
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

/** A process as seen at one moment: `identity` tells it from a later one given the same pid. */
export interface Tracked {
  pid: number;
  identity: string | null;
}

function tracked(pids: number[]): Tracked[] {
  return pids.map((pid) => ({ pid, identity: processIdentity(pid) }));
}

/** `pid` and its descendants, now (none when pid is 0). */
export function treeOf(pid: number): Tracked[] {
  return pid ? tracked([pid, ...descendants(pid)]) : [];
}

/** Sandbox programs whose argv names the session's state directory (bwrap binds it). */
const SANDBOXES = new Set(['bwrap', 'landrun']);

/**
 * The sandbox processes whose command line holds `marker` (a session's state directory, which
 * the sandbox's argv binds) outside the tree of `keep` (the session's agent now, if any): a
 * sandbox forked while its parent was being ended escapes that parent's recorded tree,
 * reparented to pid 1 or a subreaper. Only sandbox programs: a user's `less` of a file there is
 * not ours. One snapshot of /proc: a process born after it is not taken for a stray.
 */
export function strays(marker: string, keep: number | null): Tracked[] {
  const parentOf = parents();
  const kept = new Set(keep ? [keep, ...descendants(keep, parentOf)] : []);
  const found: number[] = [];
  for (const pid of parentOf.keys()) {
    if (kept.has(pid) || pid === process.pid) continue;
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
      if (SANDBOXES.has(path.basename(argv[0]!)) && argv.some((a) => a.includes(marker))) found.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return tracked(found).filter((p) => p.identity !== null);
}

/**
 * Ends what is left of a process tree recorded before its terminal closed: those still alive
 * after `graceMs` (a program may ignore the hangup, or have left its session) get SIGKILL, and
 * are awaited (a moment at most), so that "ended" means gone.
 */
export async function endTree(tree: Tracked[], graceMs = 1000): Promise<void> {
  const left = () => tree.filter((p) => p.identity !== null && processIdentity(p.pid) === p.identity);
  const wait = async (ms: number) => {
    const end = Date.now() + ms;
    while (left().length > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  };
  await wait(graceMs);
  for (const p of left()) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone meanwhile, or not ours
    }
  }
  await wait(500);
}

/**
 * Ends an agent's processes once its window is closed: its tree as recorded, then whatever of
 * the session's sandbox escaped that record (see strays), leaving the tree of `keep` alone.
 */
export async function endAgent(tree: Tracked[], sessionDir: string, keep: number | null): Promise<void> {
  await endTree(tree);
  await endTree(strays(sessionDir, keep), 0);
}
