/** The contract between sessions and their clients (the daemon's agent/ tree, Assist): DESIGN §3. */

export type State = 'starting' | 'idle' | 'running' | 'waiting' | 'exited' | 'error';

export interface SessionInfo {
  id: string;
  backend: string;
  state: State;
  pid: number | null;
  alias: string | null;
  cwd: string;
  winid: number | null;
  createdAt: Date;
}

export type SessionEvent =
  | { id: string; kind: 'new'; backend: string; cwd: string }
  | { id: string; kind: 'state'; from: State; to: State }
  | { id: string; kind: 'alias'; alias: string }
  | { id: string; kind: 'out' }
  | { id: string; kind: 'exit'; status: number | null }
  | { id: string; kind: 'error'; text: string }
  /** Killed, its processes gone: it has left the list. */
  | { id: string; kind: 'gone' };
