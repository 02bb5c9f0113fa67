/**
 * Every rule of a session, as one pure function: `step(machine, input, now, rules)` gives the next
 * machine and the effects the shell (session.ts) performs — tmux keys, looks at the screen and
 * /proc, the driver's record, events. Nothing here waits, reads a clock or touches the world, so
 * each rule is tested as a line of a table (test/session/rules.test.ts).
 *
 * State comes from the best source the backend has: its driver's hints (hooks, a status file) and
 * turns (its own record) when it has one; otherwise the screen ("quiet"): output quiet for the
 * backend's time AND no child processes beyond those the idle agent had AND the ready/busy
 * patterns agreeing. A hints-only driver's turn falls back to the screen when its hooks do not
 * come, or after an interrupt (which fires no hook).
 */
import type { BackendDefinition } from '../backends/definition.js';
import { answerOf, formatTurn, renderTurn, type Hint, type Turn } from '../backends/driver.js';
import { answerFromOutput, answerOnScreen } from './answer.js';
import { stateOf, timerOf, type ActiveTurn, type Effect, type EndCause, type Input, type Machine, type Phase, type Wake } from './phase.js';
import { check, complete, recorded, unchecked } from './record-check.js';

/** Timing, each with its reason. */
export const Timing = {
  /** An Enter sent while the agent is busy drawing can be dropped: unconfirmed this long, Enter is pressed again. */
  enterRetryMs: 2000,
  /** Enters pressed in all before a turn is judged from the screen (its hooks are not reaching us). */
  enterTries: 3,
  /** A hints-only driver's agent gets no second Enter (its hooks may simply not run): this long, then the screen. */
  hookWaitMs: 3000,
  /** A hints-only driver's `idle` can overtake the pane's output: the answer is read once output was quiet this long… */
  settleQuietMs: 100,
  /** …or this long after the hint at most. */
  settleMaxMs: 2000,
  /** An `idle` without the answer's text (the status file is some 30 ms ahead of the Stop hook): the hook gets this long to name it. */
  answerNamingMs: 50,
  /** The driver's record can lag the hint that ended the turn: it is read again this often… */
  recordPollMs: 25,
  /**
   * …for at most this long: when the hint did not carry the final message (an interrupt, or the
   * status file ahead of the Stop hook), before the turn ends with what the record holds; and, for
   * a turn ended with the message in hand, while the record is checked against it. Half a second
   * (before) could end a turn with an empty answer: an `idle` from the status file can come while
   * the record holds the prompt alone (the first turn of a fresh Claude Code, under load).
   */
  recordLagMaxMs: 2000,
  /** Hints older than the prompt they would end belong to the turn before (clocks agree: same machine). */
  staleSlackMs: 5,
  /**
   * A start-up dialog is answered once the screen was still this long: a key sent the moment it is
   * drawn can be taken before its choices are (Claude Code's bypass warning read a `2` sent 14 ms
   * after it appeared as its default, "No, exit": measured).
   */
  dialogSettleMs: 150,
} as const;

/** The raw pane text a turn keeps (the answer is near its end). */
const MAX_PRINTED = 1 << 20;

export interface Rules {
  def: BackendDefinition;
  /** none: judged from the screen; turns: hints and the agent's own record; hints: hints, answers from the screen. */
  driver: 'none' | 'turns' | 'hints';
}

export interface Step {
  machine: Machine;
  effects: Effect[];
}

export function step(machine: Machine, input: Input, now: number, rules: Rules): Step {
  const t = new Transition(machine, now, rules);
  t.apply(input);
  return { machine: t.m, effects: t.effects };
}

type PhaseOf<K extends Phase['kind']> = Extract<Phase, { kind: K }>;
type InTurn = PhaseOf<'sending' | 'confirming' | 'working'>;

function newTurn(prompt: string | null, byScreen: boolean): ActiveTurn {
  return { prompt, confirmedAt: null, byScreen, asking: false, printed: '', taken: [] };
}

/** The phase awaits this answer (a later request, or none, makes it stale). */
function answers(wake: Wake | undefined, ticket: number): boolean {
  return !!wake && 'ticket' in wake && wake.ticket === ticket;
}

/** One step: `m` and `effects` are built up, the machine given is never changed. */
class Transition {
  readonly effects: Effect[] = [];

  constructor(
    public m: Machine,
    private readonly now: number,
    private readonly rules: Rules,
  ) {}

  private get def(): BackendDefinition {
    return this.rules.def;
  }

  private get quietMs(): number {
    return this.def.state.quietMs;
  }

  apply(input: Input): void {
    const p = this.m.phase;
    if (p.kind === 'ended' && input.kind !== 'restart' && input.kind !== 'end') return;
    switch (input.kind) {
      case 'prompt':
        this.set({ queue: [...this.m.queue, input.text] });
        return p.kind === 'idle' ? this.next() : undefined;
      case 'stop':
        return this.set({ queue: [] });
      case 'interrupted':
        return this.interrupted(p);
      case 'output':
        return this.output(p, input.text);
      case 'hint':
        return this.hint(p, input.hint);
      case 'tick':
        return timerOf(p) === null ? undefined : this.tick(p);
      case 'sent':
        return p.kind === 'sending' && answers(p.wake, input.ticket) ? this.sent(p) : undefined;
      case 'looked':
        if (!('wake' in p) || !answers(p.wake, input.ticket)) return;
        if (p.kind === 'starting') return this.startupLook(p, input.children, input.screen ?? '');
        return p.kind === 'working' ? this.quietLook(p, input.children, input.screen) : undefined;
      case 'turns':
        return this.turnsRead(p, input.ticket, input.turns);
      case 'captured':
        return p.kind === 'reading' && answers(p.wake, input.ticket) ? this.screenRead(p.turn.prompt ?? '', input.screen) : undefined;
      case 'restart':
        // Queued prompts stay queued: they go once the agent is ready again. Looks still out are stale.
        return p.kind === 'ended' && p.killed ? undefined : this.go({ kind: 'starting', deadline: Infinity, answered: [], wake: null });
      case 'respawned':
        return p.kind === 'starting' ? this.respawned(p) : undefined;
      case 'adopt':
        return this.adopt(input);
      case 'end':
        return this.end(p, input.cause);
    }
  }

  /** Moves to `phase`, announcing a change of the public state (an end is announced by the shell, after its cleanup). */
  private go(phase: Phase): void {
    const from = stateOf(this.m.phase);
    const to = stateOf(phase);
    this.m = { ...this.m, phase };
    if (phase.kind !== 'ended' && from !== to) this.effects.push({ kind: 'state', from, to });
  }

  private set(patch: Partial<Omit<Machine, 'phase'>>): void {
    this.m = { ...this.m, ...patch };
  }

  /** Asks the shell for something (its answer comes back with the ticket), the phase waiting for it. */
  private request(phase: Phase & { wake: Wake }, effect: (ticket: number) => Effect): void {
    const ticket = this.m.tickets + 1;
    this.set({ tickets: ticket });
    this.go({ ...phase, wake: { ticket } } as Phase);
    this.effects.push(effect(ticket));
  }

  private error(text: string): void {
    this.effects.push({ kind: 'error', text });
  }

  // ── Sending a prompt ──────────────────────────────────────────────────────────────────────

  /** Idle: the next queued prompt goes. */
  private next(): void {
    const [text, ...rest] = this.m.queue;
    if (text === undefined) return;
    // A slash command fires no hooks; a hints-only driver whose hooks were missed and never heard starts on the screen.
    const byScreen = this.rules.driver === 'none' || text.trimStart().startsWith('/') || (this.rules.driver === 'hints' && this.m.hooks === 'missed');
    this.set({ queue: rest, promptedAt: this.now });
    this.request({ kind: 'sending', turn: newTurn(text, byScreen), wake: null }, (ticket) => ({ kind: 'submit', ticket, text }));
  }

  /** Pasted and Enter pressed: the agent's hooks are to confirm it, or the screen judges the turn. */
  private sent(p: PhaseOf<'sending'>): void {
    this.set({ lastOutputAt: this.now });
    const turn = p.turn;
    if (turn.byScreen) return this.go({ kind: 'working', turn, wake: { at: this.now + this.quietMs } });
    if (turn.confirmedAt !== null) return this.go({ kind: 'working', turn, wake: null });
    const wait = this.rules.driver === 'hints' ? Timing.hookWaitMs : Timing.enterRetryMs;
    this.go({ kind: 'confirming', turn, enters: 1, wake: { at: this.now + wait } });
  }

  /** No confirmation in time: Enter again (it can be dropped), or the screen judges this turn. */
  private unconfirmed(p: PhaseOf<'confirming'>): void {
    const turn = { ...p.turn, byScreen: true };
    if (this.rules.driver === 'hints') {
      if (this.m.hooks === 'unknown') this.error(`no hook from ${this.def.name} confirmed the prompt within ${Timing.hookWaitMs / 1000} s: its state is read from the screen until one does`);
      if (this.m.hooks !== 'heard') this.set({ hooks: 'missed' });
      return this.go({ kind: 'working', turn, wake: { at: this.now } });
    }
    if (p.enters >= Timing.enterTries) {
      this.error(`the agent did not confirm the prompt after ${Timing.enterTries} Enters (are its hooks running?): judging this turn from the screen`);
      return this.go({ kind: 'working', turn, wake: { at: this.now + this.quietMs } });
    }
    this.effects.push({ kind: 'keys', keys: this.def.submit.keys });
    this.go({ ...p, enters: p.enters + 1, wake: { at: this.now + Timing.enterRetryMs } });
  }

  /** An interrupt fires no hook: a hints-only driver's turn is judged from the screen from now on. */
  private interrupted(p: Phase): void {
    if (this.rules.driver !== 'hints' || (p.kind !== 'confirming' && p.kind !== 'working') || p.turn.byScreen || p.turn.asking) return;
    this.set({ lastOutputAt: this.now });
    this.go({ kind: 'working', turn: { ...p.turn, byScreen: true }, wake: { at: this.now + this.quietMs } });
  }

  private output(p: Phase, text: string): void {
    this.set({ lastOutputAt: this.now });
    if (!('turn' in p)) return;
    let printed = p.turn.printed + text;
    if (printed.length > MAX_PRINTED) printed = printed.slice(-MAX_PRINTED);
    const turn = { ...p.turn, printed };
    // Output is not quiet: a screen-judged turn looks again a quiet time after it.
    if (p.kind === 'working' && turn.byScreen) return this.go({ ...p, turn, wake: { at: this.now + this.quietMs } });
    this.go({ ...p, turn } as Phase);
  }

  // ── The agent's hints ─────────────────────────────────────────────────────────────────────

  private hint(p: Phase, h: Hint): void {
    if (p.kind === 'starting') return;
    if (h.kind === 'ended') return void this.effects.push({ kind: 'expectExit' });
    if (h.at < this.m.promptedAt - Timing.staleSlackMs) return;
    switch (p.kind) {
      case 'idle':
        return this.hintWhileIdle(h);
      case 'sending':
      case 'confirming':
      case 'working':
        return this.hintInTurn(p, h);
      case 'collecting': {
        // A second `idle` (the Stop hook after the status file) names the answer: the record is read now.
        if (h.kind !== 'idle' || p.answer !== undefined || h.answer === undefined) return;
        const named = { ...p, answer: h.answer };
        return timerOf(p) === null ? this.go(named) : this.request(named, (ticket) => ({ kind: 'takeTurns', ticket }));
      }
      default:
      // settling, reading: the turn is over already.
    }
  }

  /** A turn we did not send (typed in the terminal, Attach): the state says what the screen shows. */
  private hintWhileIdle(h: Exclude<Hint, { kind: 'ended' }>): void {
    if (h.kind === 'idle') return;
    if (h.kind === 'submitted') this.set({ hooks: 'heard' });
    this.go({ kind: 'working', turn: { ...newTurn(null, false), asking: h.kind === 'waiting' }, wake: null });
  }

  private hintInTurn(p: InTurn, h: Exclude<Hint, { kind: 'ended' }>): void {
    let turn = p.turn;
    const ours = turn.prompt !== null;
    // A tool starting (or the status file turning busy) after our prompt also says it was taken.
    if (h.kind === 'submitted' || (h.kind === 'running' && ours && turn.confirmedAt === null)) {
      turn = { ...turn, confirmedAt: h.at };
      this.set({ hooks: 'heard' });
    }
    // While our prompt is not yet taken, or for news older than its taking, the agent is still
    // speaking of the turn before (its status file lags its Stop hook by some 30 ms).
    const stale = h.kind !== 'submitted' && ours && (turn.confirmedAt === null || h.at < turn.confirmedAt - Timing.staleSlackMs);
    if (!stale && h.kind === 'idle') return this.hintedEnd(turn, h.answer);
    if (!stale) turn = { ...turn, asking: h.kind === 'waiting' };
    if (p.kind === 'confirming') return this.go(turn.confirmedAt === null ? { ...p, turn } : { kind: 'working', turn, wake: null });
    this.go({ ...p, turn });
  }

  /** The agent said the turn ended. */
  private hintedEnd(turn: ActiveTurn, named: string | undefined): void {
    if (this.rules.driver === 'hints') {
      // The hint carries the answer: nothing to wait for.
      if (named !== undefined && turn.prompt !== null) return this.answered(turn.prompt, named);
      return this.go({ kind: 'settling', turn, deadline: this.now + Timing.settleMaxMs, wake: { at: this.now } });
    }
    // Without the answer's text (an interrupt, or the status file ahead of the Stop hook) the hook gets a moment to name it.
    this.collect(turn, named, named === undefined);
  }

  // ── Timers and looks ──────────────────────────────────────────────────────────────────────

  private tick(p: Phase): void {
    switch (p.kind) {
      case 'starting':
        return this.request(p, (ticket) => ({ kind: 'look', ticket, screen: true }));
      case 'confirming':
        return this.unconfirmed(p);
      case 'working':
        return this.quietCheck(p);
      case 'settling': {
        const since = this.now - this.m.lastOutputAt;
        if (since < Timing.settleQuietMs && this.now < p.deadline) return this.go({ ...p, wake: { at: this.m.lastOutputAt + Timing.settleQuietMs } });
        return this.turnOver(p.turn);
      }
      case 'collecting':
      case 'idle':
        return this.request({ ...p, wake: null }, (ticket) => ({ kind: 'takeTurns', ticket }));
      default:
    }
  }

  /** A screen-judged turn: quiet long enough, it looks at /proc (and the screen, when the backend has patterns). */
  private quietCheck(p: PhaseOf<'working'>): void {
    if (!p.turn.byScreen) return this.go({ ...p, wake: null });
    // While the agent asks the user something the turn is not over: it looks again later.
    if (p.turn.asking) return this.go({ ...p, wake: { at: this.now + this.quietMs } });
    if (this.now - this.m.lastOutputAt < this.quietMs) return this.go({ ...p, wake: { at: this.m.lastOutputAt + this.quietMs } });
    const { busy, ready } = this.def.state;
    this.request(p, (ticket) => ({ kind: 'look', ticket, screen: busy !== null || ready !== null }));
  }

  private quietLook(p: PhaseOf<'working'>, children: number, screen: string | null): void {
    const { busy, ready } = this.def.state;
    // A tool still running in a child process means the agent is working, however quiet.
    const working = children > this.m.baseline || (screen !== null && ((busy?.test(screen) ?? false) || (ready !== null && !ready.test(screen))));
    if (working || p.turn.asking) return this.go({ ...p, wake: { at: this.now + this.quietMs } });
    this.turnOver(p.turn);
  }

  private startupLook(p: PhaseOf<'starting'>, children: number, screen: string): void {
    const { dialogs, timeoutMs } = this.def.startup;
    const dialog = dialogs.findIndex((d, i) => !p.answered.includes(i) && d.match.test(screen));
    if (dialog >= 0) {
      const still = this.now - this.m.lastOutputAt;
      if (still < Timing.dialogSettleMs) return this.go({ ...p, wake: { at: this.m.lastOutputAt + Timing.dialogSettleMs } });
      this.set({ lastOutputAt: this.now });
      this.effects.push({ kind: 'keys', keys: dialogs[dialog]!.keys });
      return this.go({ ...p, answered: [...p.answered, dialog], wake: { at: this.now + this.quietMs } });
    }
    const ready = this.def.startup.ready ?? this.def.state.ready;
    const quiet = this.now - this.m.lastOutputAt >= this.quietMs;
    if (quiet && (!ready || ready.test(screen))) {
      this.set({ baseline: children });
      this.go({ kind: 'idle' });
      this.effects.push({ kind: 'persist' }, { kind: 'discardTurns' });
      return this.next();
    }
    if (this.now > p.deadline) {
      this.error(`the agent did not become ready within ${timeoutMs / 1000} s; its screen:\n${screen}`);
      return this.end(p, { kind: 'startTimeout' });
    }
    this.go({ ...p, wake: { at: (quiet ? this.now : this.m.lastOutputAt) + this.quietMs } });
  }

  private respawned(p: PhaseOf<'starting'>): void {
    this.set({ lastOutputAt: this.now });
    this.go({ ...p, deadline: this.now + this.def.startup.timeoutMs, wake: { at: this.now + this.quietMs } });
  }

  // ── A turn's end ──────────────────────────────────────────────────────────────────────────

  /** The screen (or a hints-only driver's `idle`, once the output settled) says the turn is over. */
  private turnOver(turn: ActiveTurn): void {
    // A slash command fires no hooks, but the agent records what it printed.
    if (this.rules.driver === 'turns') return this.collect(turn, undefined, false);
    const prompt = turn.prompt;
    if (prompt === null) return this.toIdle();
    if (this.def.response.source === 'screen') return this.request({ kind: 'reading', turn, wake: null }, (ticket) => ({ kind: 'capture', ticket }));
    this.answered(prompt, answerFromOutput(prompt, turn.printed, this.def));
  }

  private collect(turn: ActiveTurn, named: string | undefined, awaitName: boolean): void {
    const phase: PhaseOf<'collecting'> = { kind: 'collecting', turn, answer: named, taken: [...turn.taken, ...this.m.early], deadline: this.now + Timing.recordLagMaxMs, wake: null };
    this.set({ early: [] });
    if (awaitName) return this.go({ ...phase, wake: { at: this.now + Timing.answerNamingMs } });
    this.request(phase, (ticket) => ({ kind: 'takeTurns', ticket }));
  }

  /** What the driver's record holds now: first the check of the turn before, then what this phase waits for. */
  private turnsRead(p: Phase, ticket: number, turns: Turn[]): void {
    const { left, correction, rest } = check(this.m.unchecked, turns, this.now);
    this.set({ unchecked: left });
    if (correction) this.effects.push(correction);
    if (p.kind === 'collecting' && answers(p.wake, ticket)) return this.recordRead(p, rest);
    // Read ahead (by a check, or for a phase no longer waiting): the next turn's.
    this.set({ early: [...this.m.early, ...rest] });
    if (p.kind === 'idle' && answers(p.wake, ticket)) this.go(left ? { kind: 'idle', wake: { at: this.now + Timing.recordPollMs } } : { kind: 'idle' });
  }

  private recordRead(p: PhaseOf<'collecting'>, turns: Turn[]): void {
    const taken = [...p.taken, ...turns];
    const prompt = p.turn.prompt;
    if (!recorded(prompt, p.answer, taken)) {
      // The agent named its final message: the turn ends now, the record checked once it catches up.
      if (p.answer !== undefined) return this.completed(prompt, p.answer, taken);
      if (this.now < p.deadline) return this.go({ ...p, taken, wake: { at: this.now + Timing.recordPollMs } });
    }
    const last = taken.at(-1);
    if (!last && prompt !== null) this.error(`no answer was recorded for the last prompt: is the ${this.def.name} agent's own record visible in the sandbox? (anvillm sandbox check)`);
    if (last) this.effects.push({ kind: 'answer', answer: answerOf(last), transcript: taken.map(renderTurn).join(''), announce: true });
    this.toIdle();
  }

  private completed(prompt: string | null, named: string, taken: readonly Turn[]): void {
    const c = complete(prompt, named, taken);
    this.effects.push({ kind: 'answer', answer: answerOf(c.done), transcript: c.turns.map(renderTurn).join(''), announce: true });
    this.set({ unchecked: unchecked(c, named, this.now + Timing.recordLagMaxMs) });
    this.go({ kind: 'idle', wake: { at: this.now + Timing.recordPollMs } });
    this.next();
  }

  private screenRead(prompt: string, screen: string): void {
    this.answered(prompt, answerOnScreen(prompt, screen, this.def));
  }

  private answered(prompt: string, answer: string): void {
    this.effects.push({ kind: 'answer', answer, transcript: formatTurn(prompt, answer), announce: true });
    this.toIdle();
  }

  private toIdle(): void {
    this.go({ kind: 'idle' });
    this.next();
  }

  // ── Adopting, ending ──────────────────────────────────────────────────────────────────────

  /** After a daemon restart: an agent found alive may be mid-turn. Its processes now are taken as its idle ones. */
  private adopt(a: Extract<Input, { kind: 'adopt' }>): void {
    this.set({ baseline: a.children });
    if (this.rules.driver !== 'turns') {
      // No record to ask: the screen says whether a turn is in progress.
      return this.go({ kind: 'working', turn: newTurn(null, true), wake: { at: this.now + this.quietMs } });
    }
    // The record gives back the conversation, and the turn in progress, if any: the last one if its
    // answer has not begun (or stopped at a tool). Its prompt may not be written yet, and then
    // every turn here is complete.
    const turns = [...a.turns];
    const busy = a.status === 'running' || a.status === 'waiting';
    const last = turns.at(-1);
    const open = busy && last && last.parts.at(-1)?.kind !== 'text' ? turns.pop() : undefined;
    const done = turns.at(-1);
    if (done) this.effects.push({ kind: 'answer', answer: answerOf(done), transcript: turns.map(renderTurn).join(''), announce: false });
    if (!busy) return this.go({ kind: 'idle' });
    // Taken long ago (confirmedAt 0): its end waits for its answer.
    const turn = { ...newTurn(open?.prompt ?? '', false), confirmedAt: 0, asking: a.status === 'waiting', taken: open ? [open] : [] };
    this.go({ kind: 'working', turn, wake: null });
  }

  /** Every end goes here; the shell's end does the cleanup, whatever the cause. */
  private end(p: Phase, cause: EndCause): void {
    const killed = cause.kind === 'killed';
    if (p.kind === 'ended') {
      // Killing an ended session still closes its window and what runs there; nothing is announced again.
      if (killed) this.effects.push({ kind: 'end', cause, from: p.state, announce: false });
      return killed ? this.go({ ...p, killed }) : undefined;
    }
    if (killed) this.set({ queue: [] });
    if (cause.kind === 'died') this.error(`the agent exited with status ${cause.status ?? 'unknown'}; its last screen lines:\n${cause.lastLines}`);
    if (cause.kind === 'gone') this.error('the tmux window was closed');
    if (cause.kind === 'restartFailed') this.error(`restart failed: ${cause.message}`);
    const state = cause.kind === 'startTimeout' || cause.kind === 'restartFailed' ? 'error' : 'exited';
    this.go({ kind: 'ended', state, killed });
    this.effects.push({ kind: 'end', cause, from: stateOf(p), announce: true });
  }
}
