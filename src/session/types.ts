/** The contract between sessions and their clients (the daemon's agent/ tree, Assist): DESIGN §3. */
import type { AgentEvent } from '../protocol/protocol.js';

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

export type SessionEvent = AgentEvent<State>;
