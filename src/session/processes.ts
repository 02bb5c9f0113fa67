/** Process trees from /proc, read directly (never by spawning pgrep on every check). */
import fs from 'node:fs';

/** Every descendant of `pid` (not `pid` itself). */
export function descendants(pid: number): number[] {
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
 * it is gone.
 */
export function processIdentity(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/**
 * Ends what is left of a process tree recorded before its terminal closed: those still alive
 * after `graceMs` (a program may ignore the hangup, or have left its session) get SIGKILL.
 */
export async function endTree(tree: { pid: number; identity: string | null }[], graceMs = 1000): Promise<void> {
  const left = () => tree.filter((p) => p.identity !== null && processIdentity(p.pid) === p.identity);
  const end = Date.now() + graceMs;
  while (left().length > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  for (const p of left()) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone meanwhile, or not ours
    }
  }
}
