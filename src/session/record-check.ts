/**
 * A driver's record against what its agent's signal says, as pure functions for rules.ts: whether
 * the record shows a turn yet, the turn completed from the record so far and the final message the
 * signal carried (Claude Code's Stop hook is some 100 ms ahead of its transcript), and the check
 * of that completion once the record catches up — where the record wins.
 */
import { answerOf, renderTurn, type Turn } from '../backends/driver.js';
import type { Effect, Unchecked } from './phase.js';

/** The record shows the turn: its answer begun, and the text the agent named, if it did. */
export function recorded(prompt: string | null, named: string | undefined, taken: readonly Turn[]): boolean {
  const last = taken.at(-1);
  if (prompt !== null && (!last || last.parts.length === 0)) return false;
  if (named === undefined) return true;
  return named.trim() === lastText(last);
}

function lastText(turn: Turn | undefined): string {
  return turn?.parts.filter((p) => p.kind === 'text').pop()?.text.trim() ?? '';
}

export interface Completed {
  /** The turns to put in the transcript: those taken, the last completed. */
  turns: Turn[];
  /** The completed turn. */
  done: Turn;
  /** The record's own (still growing) turn, if it holds any of it. */
  own: Turn | null;
}

/** The turn as the record holds it so far, its final message the one the agent named. */
export function complete(prompt: string | null, named: string, taken: readonly Turn[]): Completed {
  const own = taken.at(-1) ?? null;
  const parts = own ? [...own.parts] : [];
  if (named.trim() !== '' && lastText(own ?? undefined) !== named.trim()) parts.push({ kind: 'text', text: named });
  const done: Turn = { prompt: own?.prompt ?? prompt ?? '', parts };
  return { turns: [...taken.slice(0, -1), done], done, own };
}

export function unchecked(c: Completed, named: string, deadline: number): Unchecked {
  return { turn: c.own, named, out: answerOf(c.done), transcript: renderTurn(c.done), deadline };
}

export interface Checked {
  /** Still to check (the record has not caught up, and it is not too late). */
  left: Unchecked | null;
  /** The record's version, where it differs from what was given. */
  correction: Effect | null;
  /** The turns read that belong to later turns. */
  rest: Turn[];
}

/** Checks the turn that ended early against the record as read now (`turns`: what was just read). */
export function check(u: Unchecked | null, turns: Turn[], now: number): Checked {
  if (!u) return { left: null, correction: null, rest: turns };
  let rest = turns;
  let turn = u.turn;
  // Not in the record at its end: the first turn read since is it.
  if (!turn && rest.length > 0) [turn, ...rest] = rest as [Turn, ...Turn[]];
  if (!turn || !recorded(turn.prompt, u.named, [turn])) {
    return { left: now < u.deadline ? { ...u, turn } : null, correction: null, rest };
  }
  const out = answerOf(turn);
  const transcript = renderTurn(turn);
  const same = out === u.out && transcript === u.transcript;
  return { left: null, correction: same ? null : { kind: 'answer', answer: out, transcript, announce: true, replaces: u.transcript }, rest };
}
