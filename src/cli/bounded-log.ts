/**
 * The daemon's log of what clients cause (a bad connection, a refused request): a client in a
 * loop must not grow it without bound. Each kind of line — its text before the first ": " — is
 * logged at most `burst` times per window; past that the lines are counted, and when the window
 * ends one line says how many were left out.
 */
export interface BoundedLogOptions {
  /** Lines of one kind logged per window (default 20). */
  burst?: number;
  /** The window, in milliseconds (default 60 s). */
  windowMs?: number;
}

interface Window {
  start: number;
  logged: number;
  dropped: number;
  timer: NodeJS.Timeout | null;
}

/** Kinds followed at once; more (a client inventing kinds) share one. */
const MAX_KINDS = 256;

export function boundedLog(write: (line: string) => void, options: BoundedLogOptions = {}): (line: string) => void {
  const burst = options.burst ?? 20;
  const windowMs = options.windowMs ?? 60_000;
  const windows = new Map<string, Window>();
  const close = (kind: string) => {
    const w = windows.get(kind);
    if (!w) return;
    if (w.timer) clearTimeout(w.timer);
    windows.delete(kind);
    const span = windowMs >= 1000 ? `${Math.round(windowMs / 1000)} s` : `${windowMs} ms`;
    if (w.dropped > 0) write(`${kind}: ${w.dropped} more like this in ${span}, not logged`);
  };
  return (line) => {
    const colon = line.indexOf(': ');
    let kind = colon < 0 ? line.slice(0, 40) : line.slice(0, Math.min(colon, 60));
    if (!windows.has(kind) && windows.size >= MAX_KINDS) kind = 'other';
    const now = Date.now();
    let w = windows.get(kind);
    if (w && now - w.start >= windowMs) close(kind);
    w = windows.get(kind);
    if (!w) windows.set(kind, (w = { start: now, logged: 0, dropped: 0, timer: null }));
    if (w.logged < burst) {
      w.logged++;
      write(line);
      return;
    }
    w.dropped++;
    // The count is told when the window ends, even if nothing more comes.
    w.timer ??= setTimeout(() => close(kind), w.start + windowMs - now).unref();
  };
}
