/**
 * One command at a time: each runs after those queued before it have finished, whatever the
 * number of callers; past `max` running or waiting, more are refused with `busy(n)`'s error.
 * A session's lifecycle commands go through one (issue 18: two restarts interleaved made tmux
 * 3.3a exit, and left windows and sandboxes behind).
 */
export class Serial {
  private last: Promise<unknown> = Promise.resolve();
  private count = 0;

  constructor(
    private readonly max: number,
    private readonly busy: (n: number) => string,
  ) {}

  run<T>(f: () => Promise<T>): Promise<T> {
    if (this.count >= this.max) return Promise.reject(new Error(this.busy(this.count)));
    this.count++;
    const run = this.last.then(f).finally(() => this.count--);
    this.last = run.catch(() => {});
    return run;
  }
}
