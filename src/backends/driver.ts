/**
 * A driver is the small piece of code a backend may have beyond its data: for agents that say
 * more than their screen does (hooks, a status file, a transcript of their own), it turns those
 * into state hints and exact turns. A backend without one is read from its screen (the session's
 * "quiet" method). A driver may give state hints only (`turns: false`): the session then reads the
 * answer from the screen when the agent says the turn ended.
 */
export interface Turn {
  prompt: string;
  /** Text blocks, and one `Name: input` line per tool call, in order. */
  parts: { kind: 'text' | 'tool'; text: string }[];
}

/**
 * `at`: milliseconds since the epoch when the agent says it happened (a hook's run, not our
 * reading of it); rules compare it with the prompt's time. `shown`, when later: when the agent
 * made it known (a status file Claude Code stamps, then writes some 5–80 ms later: measured),
 * which is what our reaction is timed from.
 */
export type Hint = (
  /** The agent took the prompt (it is running). */
  | { kind: 'submitted'; at: number }
  | { kind: 'running'; at: number }
  /**
   * The turn ended (finished or interrupted). `answer`: the turn's final message, when the agent's
   * signal carries it (Claude Code's Stop hook: `last_assistant_message`). With it the turn ends at
   * once, waiting on no slower record: a driver with turns answers with what its record holds of
   * the turn plus this final message (and the record, once it catches up, is checked: it wins); a
   * hints-only driver answers with this text, without waiting for the output to settle.
   */
  | { kind: 'idle'; at: number; answer?: string }
  | { kind: 'waiting'; at: number; why: string }
  /** The agent's session ended (it is exiting). */
  | { kind: 'ended'; at: number }
) & { shown?: number };

export interface DriverContext {
  id: string;
  cwd: string;
  /** $XDG_STATE_HOME/anvillm/sessions/<id>: granted read-write by every sandbox. */
  stateDir: string;
  /** The agent's environment as the daemon sees it (its own plus the backend's env). */
  env: NodeJS.ProcessEnv;
  /** What `record()` returned before a daemon restart. */
  saved: Record<string, string>;
  /** The backend's command after the program (a user's definition may already name what a driver would add). */
  args: readonly string[];
}

export interface Driver {
  /**
   * false: the agent keeps no record of its turns to read (takeTurns() gives none); its `idle`
   * hint ends the turn and the answer is read from the screen/output, as for a backend without a
   * driver. When a turn brings no `submitted` hint within a few seconds (hooks not running), the
   * session judges that turn from the screen (quiet + /proc). Default true.
   */
  readonly turns?: boolean;
  /** Arguments after the backend's command, and environment, for a start (a conversation that exists is continued). */
  launch(): { args: string[]; env: Record<string, string> };
  /** Starts listening; hints arrive at `hint`. */
  listen(hint: (h: Hint) => void): void;
  /** What the agent says it is doing now, when it says (after a daemon restart). */
  status(): 'idle' | 'running' | 'waiting' | null;
  /** The turns the agent recorded since the last call. */
  takeTurns(): Turn[];
  /** What a daemon restart must keep. */
  record(): Record<string, string>;
  /** Writes the conversation to `file` (and its raw form beside it); returns the files written. */
  save?(file: string, rendered: string): string[];
  /** Makes the next `launch()` continue the conversation saved in `file`. Without save/load, the session saves its transcript. */
  load?(file: string): void;
  close(): void;
}

export type DriverFactory = (ctx: DriverContext) => Driver;

/** How a tool call reads in the transcript: its name and the one argument that says what it did. */
export function toolLine(name: string, input: Record<string, unknown>): string {
  const main = ['command', 'cmd', 'file_path', 'path', 'pattern', 'url', 'query', 'description', 'prompt']
    .map((k) => input[k])
    .find((v) => typeof v === 'string');
  const arg = typeof main === 'string' ? main : JSON.stringify(input);
  return `${name}: ${arg.replace(/\s*\n\s*/g, ' ')}`;
}

/** One turn in the transcript format of DESIGN §2 (append-only blocks ending in a blank line). */
export function formatTurn(prompt: string, answer: string): string {
  return `USER: ${prompt.replace(/\n+$/, '')}\n\nASSISTANT: ${answer.replace(/\n+$/, '')}\n\n`;
}

/** The answer of a turn: its text blocks. */
export function answerOf(turn: Turn): string {
  return turn.parts
    .filter((p) => p.kind === 'text')
    .map((p) => p.text.trim())
    .join('\n\n');
}

/** A turn in the transcript format of DESIGN §2: tool calls on their own indented lines. */
export function renderTurn(turn: Turn): string {
  const answer = turn.parts.map((p) => (p.kind === 'tool' ? `  [tool] ${p.text}` : p.text.trim())).join('\n');
  return formatTurn(turn.prompt, turn.parts[0]?.kind === 'tool' ? `\n${answer}` : answer);
}
