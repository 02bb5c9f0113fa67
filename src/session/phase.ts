/**
 * What a session is doing, as data: one phase at a time, each holding its own data and at most
 * one wake-up (a timer, or the answer to one request the shell is carrying out). The rules that
 * move between phases are in rules.ts; session.ts performs their effects. The public `State`
 * (DESIGN §3) is derived from the phase.
 *
 *   starting ──ready──▶ idle ──prompt──▶ sending ──Enter pressed──▶ confirming ──taken──▶ working
 *                        ▲   (a turn the screen judges goes from sending straight to working)   │
 *                        ├── collecting: the driver's record ◀──────────── its idle hint ───────┤
 *                        ├── settling (a hints-only driver) ◀──────────── its idle hint ───────┤
 *                        └── (reading the pane, for full-screen agents) ◀── quiet on screen ────┘
 *   any ──kill, death, window gone, start timeout, restart failure──▶ ended ──restart──▶ starting
 */
import type { Hint, Turn } from '../backends/driver.js';
import type { State } from './types.js';

/** When a phase wakes: a timer (epoch ms), or the answer to the request it made (its ticket). */
export type Wake = { at: number } | { ticket: number } | null;

/** The turn in progress. */
export interface ActiveTurn {
  /** What we sent; null: a turn we did not start (typed in the terminal, or found by adopt). */
  prompt: string | null;
  /** When the agent said it took the prompt (its `submitted` hint, or a tool starting); null: not yet. */
  confirmedAt: number | null;
  /** Its end is judged from the screen (quiet + no child processes + patterns), not the driver's hints. */
  byScreen: boolean;
  /** The agent asks the user something (a permission dialog): the state is `waiting`. */
  asking: boolean;
  /** The raw pane text printed since the prompt (escapes and all), at most rules.ts' MAX_PRINTED. */
  printed: string;
  /** Turns read from the driver's record before the turn ended (a turn found running by adopt). */
  taken: readonly Turn[];
}

export type Phase =
  /** The agent's program starts: dialogs answered once each, until its screen is ready and quiet. */
  | { kind: 'starting'; deadline: number; answered: readonly number[]; wake: Wake }
  | { kind: 'idle' }
  /** The prompt is being pasted and Enter pressed (wake: the ticket of that submission). */
  | { kind: 'sending'; turn: ActiveTurn; wake: Wake }
  /** Enter was pressed; the agent's driver has not yet said it took the prompt. */
  | { kind: 'confirming'; turn: ActiveTurn; enters: number; wake: Wake }
  /** The agent works; a screen-judged turn wakes for its quiet checks. */
  | { kind: 'working'; turn: ActiveTurn; wake: Wake }
  /** A hints-only driver said the turn ended: the last of the output is awaited. */
  | { kind: 'settling'; turn: ActiveTurn; deadline: number; wake: Wake }
  /** The turn ended: its answer is read from the driver's record, which can lag the hint. */
  | { kind: 'collecting'; turn: ActiveTurn; answer: string | undefined; taken: readonly Turn[]; deadline: number; wake: Wake }
  /** The turn ended: the pane, with its history, is being captured for the answer. */
  | { kind: 'reading'; turn: ActiveTurn; wake: Wake }
  | { kind: 'ended'; state: 'exited' | 'error'; killed: boolean };

/** What is kept across phases. */
export interface Machine {
  phase: Phase;
  /** Prompts (and save/load commands) waiting for the agent to be idle. */
  queue: readonly string[];
  /** A hints-only driver's hooks: heard at least once (sticky), or missed on a turn and never heard. */
  hooks: 'unknown' | 'heard' | 'missed';
  lastOutputAt: number;
  /** When the last prompt was sent: hints older than that speak of the turn before. */
  promptedAt: number;
  /** Child processes the idle agent has (more means a tool is running). */
  baseline: number;
  /** Numbers the requests the shell carries out, so that a late answer is known as stale. */
  tickets: number;
}

/** Why a session ended; every cause goes through the same end. */
export type EndCause =
  | { kind: 'killed' }
  /** Its program ended; its last screen lines were read before (they go to err). */
  | { kind: 'died'; status: number | null; lastLines: string }
  /** Its tmux window was closed outside AnviLLM. */
  | { kind: 'gone' }
  | { kind: 'startTimeout' }
  | { kind: 'restartFailed'; message: string };

export type Input =
  | { kind: 'prompt'; text: string }
  /** The user stopped the agent: queued prompts go. */
  | { kind: 'stop' }
  /** The stop keys were sent. */
  | { kind: 'interrupted' }
  | { kind: 'output'; text: string }
  | { kind: 'hint'; hint: Hint }
  /** The phase's timer fired. */
  | { kind: 'tick' }
  /** Answers to the shell's requests, by ticket. */
  | { kind: 'sent'; ticket: number }
  | { kind: 'looked'; ticket: number; children: number; screen: string | null }
  | { kind: 'turns'; ticket: number; turns: Turn[] }
  | { kind: 'captured'; ticket: number; screen: string }
  | { kind: 'restart' }
  | { kind: 'respawned' }
  /** After a daemon restart: what the agent and its driver say now. */
  | { kind: 'adopt'; children: number; status: 'idle' | 'running' | 'waiting' | null; turns: Turn[] }
  | { kind: 'end'; cause: EndCause };

export type Effect =
  | { kind: 'state'; from: State; to: State }
  /** Paste the text and press the submit keys; answer `sent`. */
  | { kind: 'submit'; ticket: number; text: string }
  | { kind: 'keys'; keys: string[] }
  /** Count the agent's child processes, capture its screen when asked; answer `looked`. */
  | { kind: 'look'; ticket: number; screen: boolean }
  /** Read the driver's new turns; answer `turns`. */
  | { kind: 'takeTurns'; ticket: number }
  /** What the driver recorded before the first prompt (a resumed conversation) is not an answer. */
  | { kind: 'discardTurns' }
  /** Capture the pane with its history; answer `captured`. */
  | { kind: 'capture'; ticket: number }
  /** A turn's answer, and its transcript text; `announce`: an `out` event. */
  | { kind: 'answer'; answer: string; transcript: string; announce: boolean }
  | { kind: 'error'; text: string }
  /** Record the session list (sessions.json). */
  | { kind: 'persist' }
  /** The agent said its session ended: its death should follow. */
  | { kind: 'expectExit' }
  /** The one end: `from` is the state before (the shell announces the end after its cleanup). */
  | { kind: 'end'; cause: EndCause; from: State; announce: boolean };

export function stateOf(phase: Phase): State {
  switch (phase.kind) {
    case 'starting':
    case 'idle':
      return phase.kind;
    case 'ended':
      return phase.state;
    default:
      return phase.turn.asking ? 'waiting' : 'running';
  }
}

/** When the phase's timer fires, if it has one. */
export function timerOf(phase: Phase): number | null {
  return 'wake' in phase && phase.wake !== null && 'at' in phase.wake ? phase.wake.at : null;
}

/** A session as it is created: starting, its first look after the agent's output has been quiet a while. */
export function startingMachine(now: number, startupMs: number, quietMs: number): Machine {
  return {
    phase: { kind: 'starting', deadline: now + startupMs, answered: [], wake: { at: now + quietMs } },
    queue: [],
    hooks: 'unknown',
    lastOutputAt: now,
    promptedAt: 0,
    baseline: 0,
    tickets: 0,
  };
}
