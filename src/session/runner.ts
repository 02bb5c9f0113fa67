/**
 * The rules run one input at a time: an effect that answers at once (a driver's record read) waits
 * until the input before it is handled. The one timer of the phase (phase.ts `timerOf`) is kept here
 * too, so that every change of the machine re-arms it in the same place.
 */
import { timerOf, type Effect, type Input, type Machine } from './phase.js';
import { step, type Rules } from './rules.js';

export class Runner {
  private current: Machine;
  private readonly inbox: Input[] = [];
  private handling = false;
  /** The daemon let go (detach): no timer is armed any more. */
  private detached = false;
  private timer: NodeJS.Timeout | null = null;
  private timerAt: number | null = null;

  constructor(
    machine: Machine,
    private readonly rules: Rules,
    /**
     * Carries out an effect; it may hand the runner new inputs, which wait their turn. `origin`
     * is the input from outside that began the run of steps (a hint, not the record read it asked for).
     */
    private readonly perform: (e: Effect, origin: Input) => void,
  ) {
    this.current = machine;
    this.armTimer();
  }

  get machine(): Machine {
    return this.current;
  }

  /** Every change of the machine goes through here, one input at a time. */
  handle(input: Input): void {
    this.inbox.push(input);
    if (this.handling) return;
    this.handling = true;
    try {
      for (let next = this.inbox.shift(); next; next = this.inbox.shift()) {
        const { machine, effects } = step(this.current, next, Date.now(), this.rules);
        this.current = machine;
        this.armTimer();
        for (const e of effects) this.perform(e, input);
      }
    } finally {
      this.handling = false;
    }
  }

  /** No timer from now on (the daemon is stopping; the agent runs on in tmux). */
  detach(): void {
    this.detached = true;
    this.clearTimer();
  }

  clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = null;
  }

  /** Keeps one timer, for the phase's wake-up, if it has one. */
  private armTimer(): void {
    const at = this.detached ? null : timerOf(this.current.phase);
    if (at === this.timerAt) return;
    this.clearTimer();
    if (at === null) return;
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = null;
      this.handle({ kind: 'tick' });
    }, Math.max(0, at - Date.now()));
  }
}
