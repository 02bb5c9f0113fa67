/** What Assist's windows share: acme, agent/, the session table, and how to report. */
import type { Acme, Win } from '../acme/acme.js';
import type { Event } from '../acme/event.js';
import type { AgentClient } from '../protocol/client.js';
import type { Row } from './agent.js';

export interface Host {
  acme: Acme;
  agent: AgentClient;
  env: NodeJS.ProcessEnv;
  /** Where Assist was started: relative directories resolve against it. */
  cwd: string;
  /** To stderr, which acme shows in +Errors. */
  error(message: string): void;
  /** The sessions as last read (newest first). */
  rows(): Row[];
  /** A session by id, alias or pid; throws "<cmd>: no session X". */
  resolve(target: string, cmd: string): Promise<Row>;
  openChat(id: string): Promise<void>;
  openContext(id: string): Promise<void>;
  openSandbox(): Promise<void>;
  attach(id: string): Promise<void>;
  /**
   * Reads `win`'s events until it goes away, handing each to `handle` in order; then calls
   * `gone` and clunks the window's fids.
   */
  run(win: Win, handle: (e: Event) => Promise<void>, gone: () => void): void;
  /** The argv that runs the anvillm CLI. */
  anvillm: string[];
}

/** The words of an executed command, with a 2-1 chord's argument as the last word. */
export function commandWords(e: Event): { cmd: string; rest: string } {
  const text = e.text.trim();
  const sp = text.search(/\s/);
  const cmd = sp < 0 ? text : text.slice(0, sp);
  let rest = sp < 0 ? '' : text.slice(sp).trim();
  if (e.arg.trim() !== '') rest = rest === '' ? e.arg.trim() : `${rest} ${e.arg.trim()}`;
  return { cmd, rest };
}

export function isExecute(e: Event): boolean {
  return e.type === 'x' || e.type === 'X';
}

export function isLook(e: Event): boolean {
  return e.type === 'l' || e.type === 'L';
}
