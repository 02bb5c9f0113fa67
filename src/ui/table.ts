/**
 * The session table of /AnviLLM/, and the smallest edits that turn one table into the next: an
 * update rewrites only the characters that changed, so the user's selection and the window's
 * scroll position stay where they were (acme moves dot only for edits before or inside it).
 */
import type { Row } from './agent.js';

const WIDTHS = [8, 10, 9, 8, 16];

export function renderTable(rows: Row[]): string {
  const line = (cells: string[]) => cells.map((c, i) => (i < WIDTHS.length ? c.padEnd(WIDTHS[i]!) : c)).join(' ').trimEnd() + '\n';
  const head = line(['ID', 'Backend', 'State', 'PID', 'Alias', 'Cwd']);
  const rule = line([...WIDTHS.map((w) => '-'.repeat(w)), '-'.repeat(24)]);
  return head + rule + rows.map((r) => line([r.id, r.backend, r.state, r.pid === '-' ? '' : r.pid, r.alias, r.cwd])).join('');
}

/** Replace runes q0..q1 (of the old text) with `text`. */
export interface Edit {
  q0: number;
  q1: number;
  text: string;
}

/**
 * Edits from `from` to `to`, last first (so each one's addresses hold when it is applied): one
 * per run of changed lines, each cut down to the runes that differ. More than `maxEdits` runs
 * become one edit: every edit is two requests to acme.
 */
export function diff(from: string, to: string, maxEdits = 16): Edit[] {
  if (from === to) return [];
  const a = from.split(/(?<=\n)/);
  const b = to.split(/(?<=\n)/);
  // Lines equal at both ends, then the changed runs in between by a line-level LCS (tables are small).
  const runs: { a0: number; a1: number; b0: number; b1: number }[] = [];
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  let i = 0;
  let j = 0;
  let run: (typeof runs)[number] | null = null;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      if (run) runs.push(run), (run = null);
      i++, j++;
    } else {
      run ??= { a0: i, a1: i, b0: j, b1: j };
      if (j < m && (i >= n || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) run.b1 = ++j;
      else run.a1 = ++i;
    }
  }
  if (run) runs.push(run);
  const runeOffsets = (lines: string[]) => {
    const offs = [0];
    for (const l of lines) offs.push(offs[offs.length - 1]! + [...l].length);
    return offs;
  };
  const ao = runeOffsets(a);
  let chosen = runs;
  if (runs.length > maxEdits) chosen = [{ a0: runs[0]!.a0, a1: runs[runs.length - 1]!.a1, b0: runs[0]!.b0, b1: runs[runs.length - 1]!.b1 }];
  const edits = chosen.map((r) => {
    const oldText = [...a.slice(r.a0, r.a1).join('')];
    const newText = [...b.slice(r.b0, r.b1).join('')];
    let p = 0;
    while (p < oldText.length && p < newText.length && oldText[p] === newText[p]) p++;
    let s = 0;
    while (s < oldText.length - p && s < newText.length - p && oldText[oldText.length - 1 - s] === newText[newText.length - 1 - s]) s++;
    return { q0: ao[r.a0]! + p, q1: ao[r.a0]! + oldText.length - s, text: newText.slice(p, newText.length - s).join('') };
  });
  return edits.reverse();
}
