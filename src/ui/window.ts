/**
 * The shape every Assist window shares, after 9fans/go's acme.Win.EventLoop: a window is opened
 * from its name, a table of tag commands and a fill; the tag is the table's names; an executed
 * command in the table runs, and every event the window does not take is written back to acme,
 * which does what it always does (Del, Look, Snarf, external commands). A command's error goes to
 * +Errors as "<command>: <what went wrong>". A window that fails while being made is deleted.
 */
import type { Win } from '../acme/acme.js';
import type { Event } from '../acme/event.js';
import { commandWords, isExecute, type Host } from './host.js';

/** A tag command: `rest` is the text after it and a 2-1 chord's argument. */
export type Command = ((rest: string, e: Event) => Promise<unknown>) & { background?: true };

/** Runs `f` without holding up the window's next events (its error is reported all the same). */
export function background(f: (rest: string, e: Event) => Promise<unknown>): Command {
  return Object.assign(f, { background: true as const });
}

export interface AcmeWindow {
  readonly win: Win;
  /** The window's file name. */
  name(): string;
  /** The tag commands by name, in tag order (read again at each event: a table may change). */
  commands(): Record<string, Command>;
  /** Writes the body once the window is named and tagged. */
  fill(): Promise<void>;
  /** Takes an event before the table does (typing, Look, chords): true when it took it. */
  intercept?(e: Event): boolean | Promise<boolean>;
}

/** Reports `e` as the error of `cmd`, in the one form +Errors shows. */
export function report(host: Host, cmd: string, e: unknown): void {
  const message = e instanceof Error ? e.message : String(e);
  host.error(message.startsWith(`${cmd}:`) ? message : `${cmd}: ${message}`);
}

/** Opens a window made by `make`, names, tags and fills it, then hands its events to it until it goes. */
export async function openWindow<W extends AcmeWindow>(host: Host, make: (win: Win) => W, gone: () => void): Promise<W> {
  const win = await host.acme.newWindow();
  const w = make(win);
  try {
    await win.name(w.name());
    await win.writeTag(`${Object.keys(w.commands()).join(' ')} `);
    await w.fill();
  } catch (e) {
    await win.del(true).catch(() => {}); // no half-made window left behind
    throw e;
  }
  host.run(win, (e) => dispatch(host, w, e), gone);
  return w;
}

async function dispatch(host: Host, w: AcmeWindow, e: Event): Promise<void> {
  if (await w.intercept?.(e)) return;
  const { cmd, rest } = commandWords(e);
  const table = w.commands();
  const command = isExecute(e) && Object.hasOwn(table, cmd) ? table[cmd] : undefined;
  if (!command) return w.win.writeEvent(e);
  const running = command(rest, e).catch((err: unknown) => report(host, cmd, err));
  if (!command.background) await running;
}
