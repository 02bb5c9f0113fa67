/**
 * A backend is data: how to start an agent, read its state and talk to it. The built-in ones are
 * here; users add or override backends in ~/.config/anvillm/backends.yaml (config.ts).
 */
import type { TerminalSize } from '../tmux/tmux.js';

export interface Dialog {
  /** Matched against the screen while the agent starts. */
  match: RegExp;
  /** tmux key names sent once when it matches. */
  keys: string[];
}

export type StateMethod = 'quiet' | 'hooks';

export type SaveMethod =
  /** The backend has no save of its own: Save writes the transcript. */
  | { method: 'transcript' }
  /** Slash commands typed into the agent; `{path}` is replaced by the path. */
  | { method: 'command'; save: string; load: string };

export interface BackendDefinition {
  name: string;
  /** Code beyond the data, for agents that tell their state (drivers.ts): hooks, transcripts. */
  driver: string | null;
  /** The Acme tag word. */
  label: string;
  /** argv; the program is looked up on PATH when a session starts. */
  command: string[];
  /** Shown when the program is missing. */
  install: string;
  env: Record<string, string>;
  /** Names, or prefixes ending in `*`, passed from the daemon's environment through the sandbox. */
  passEnv: string[];
  size: TerminalSize;
  startup: { timeoutMs: number; dialogs: Dialog[]; ready: RegExp | null };
  state: {
    method: StateMethod;
    /** Output quiet this long (and no child processes) means idle. */
    quietMs: number;
    /** On the screen while the agent works. */
    busy: RegExp | null;
    /** On the screen when it waits for a prompt. */
    ready: RegExp | null;
  };
  /** Keys that interrupt the agent. */
  stopKeys: string[];
  /** Keys that submit a pasted prompt, and how long to wait before them (an Enter sent at once can be dropped). */
  submit: { keys: string[]; delayMs: number };
  /** Slash commands a prompt may start with; others need the terminal ("use Attach"). */
  slashCommands: string[];
  save: SaveMethod;
  /**
   * How to cut the response out of the agent's output: lines matching `strip` are dropped, then
   * the text matching `remove` is cut out of every line (e.g. a marker the agent puts before its answer).
   */
  response: {
    strip: RegExp[];
    remove: RegExp[];
    /**
     * Where the answer is read: `output`, the text the agent printed since the prompt (programs
     * that print lines); `screen`, the pane (with its history) when the turn ends, from the
     * prompt's echo to the last line matching state.ready (full-screen programs, which redraw).
     */
    source: 'output' | 'screen';
  };
}

export function capitalise(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

/** What a definition that says nothing gets. */
export function defaults(name: string): BackendDefinition {
  return {
    name,
    driver: null,
    label: capitalise(name),
    command: [name],
    install: `install ${name} and put it on PATH`,
    env: {},
    passEnv: [],
    size: { cols: 120, rows: 40 },
    startup: { timeoutMs: 30_000, dialogs: [], ready: null },
    state: { method: 'quiet', quietMs: 400, busy: null, ready: null },
    stopKeys: ['Escape'],
    submit: { keys: ['Enter'], delayMs: 150 },
    slashCommands: [],
    save: { method: 'transcript' },
    response: { strip: [], remove: [], source: 'output' },
  };
}

const PROXIES = ['HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'https_proxy', 'http_proxy', 'no_proxy'];

/** Kiro's classic prompt when idle: "[agent] !> " (! = all tools trusted); tmux drops the trailing space. */
const KIRO_PROMPT = /^(\[[\w.-]+\] )?!?>$/m;

/** Codex's input line; a dialog's selected choice ("› 1. Trust and continue") is not it. */
const CODEX_INPUT = /^› (?!\d+\. )/m;

/** Gemini CLI's empty input box ("*" in YOLO mode, ">" otherwise). */
const GEMINI_INPUT = /^ [*>] +Type your message/m;

/** The built-in backends. Their specifics (hooks, transcripts) live with each backend's issue. */
export const BUILTIN: readonly BackendDefinition[] = [
  {
    ...defaults('claude'),
    driver: 'claude',
    label: 'Claude',
    // --session-id/--resume and --settings (hooks) are added by the driver (claude.ts).
    command: ['claude', '--dangerously-skip-permissions'],
    install: 'npm install -g @anthropic-ai/claude-code',
    // DISABLE_AUTOUPDATER=1 is set by the driver, always.
    passEnv: ['ANTHROPIC_*', 'CLAUDE_*', 'DISABLE_*', 'IS_SANDBOX', ...PROXIES],
    startup: {
      timeoutMs: 60_000,
      // Answered from the screen, never by editing ~/.claude.json. Seen with 2.1.197 in a fresh
      // HOME: the theme picker and the security notes come first.
      dialogs: [
        { match: /Choose the text style/, keys: ['Enter'] },
        { match: /Security notes:[\s\S]*Press Enter to continue/, keys: ['Enter'] },
        { match: /Yes, I trust this folder/, keys: ['Enter'] },
        // Its default answer is "No, exit".
        { match: /Bypass Permissions mode[\s\S]*2\. Yes, I accept/, keys: ['2'] },
        { match: /Detected a custom API key/, keys: ['Up', 'Enter'] },
      ],
      // The input box: a prompt line right under a rule (a dialog's ❯ is never there).
      ready: /^─{10,}\n❯(\s|$)/m,
    },
    state: { method: 'hooks', quietMs: 400, busy: null, ready: null },
    stopKeys: ['Escape'],
    // Measured: an Enter at once after the text was dropped in 2 of ~40 sends; 0.3 s gave 90/90.
    // The driver also confirms each prompt (UserPromptSubmit) and presses Enter again if needed.
    submit: { keys: ['Enter'], delayMs: 300 },
    slashCommands: ['/clear', '/compact'],
  },
  {
    ...defaults('kiro-cli'),
    driver: 'kiro',
    label: 'Kiro',
    // --legacy-ui: the classic line interface (the default terminal UI redraws a full screen).
    // --agent anvillm-<id> (its hooks) is added by the driver (kiro.ts).
    command: ['kiro-cli', 'chat', '--legacy-ui', '--trust-all-tools'],
    install: 'curl -fsSL https://cli.kiro.dev/install | bash, then kiro-cli login (see kiro.dev/docs/cli)',
    env: { NO_COLOR: '1' },
    passEnv: ['KIRO_*', 'AWS_*', ...PROXIES],
    startup: { timeoutMs: 30_000, dialogs: [], ready: KIRO_PROMPT },
    // State from the driver's hooks; quiet + /proc + the spinner when they do not come (and for slash commands).
    state: { method: 'hooks', quietMs: 500, busy: /Thinking\.\.\.$/m, ready: KIRO_PROMPT },
    stopKeys: ['C-c'],
    slashCommands: ['/chat load', '/chat save', '/help', '/agent list'],
    save: { method: 'command', save: '/chat save {path} --force', load: '/chat load {path}' },
    response: {
      strip: [/^▸ Credits: /, /^✓ \d+ of \d+ hooks finished/, /^warning: \w+ hook failed/, /^I will run the following shell command/, /^🛠️ +Using tool: /, /^ ● Completed/],
      // The answer starts after Kiro's "> " marker.
      remove: [/^> /],
      source: 'output',
    },
  },
  {
    ...defaults('codex'),
    driver: 'codex',
    // Our sandbox is the safety layer. --no-daemon: no shared `codex app-server` outliving the
    // session (each session's sandbox would kill it under the others). Hooks (-c overrides) and
    // `resume <id>` are added by the driver (codex.ts).
    command: ['codex', '--dangerously-bypass-approvals-and-sandbox', '--no-daemon'],
    install: 'npm install -g @openai/codex',
    passEnv: ['OPENAI_*', 'CODEX_*', ...PROXIES],
    startup: {
      timeoutMs: 60_000,
      // Not answered: "Trust this folder?" (a git repository Codex has not been told to trust).
      // Codex records the answer in ~/.codex/config.toml, which the sandbox keeps read-only, and
      // a -c override of it is ignored (measured): the start times out with the question in err.
      dialogs: [
        // Hooks of the user's not yet trusted stay so (ours are trusted by the driver's overrides).
        { match: /Hooks need review[\s\S]*3\. Continue without trusting/, keys: ['3'] },
      ],
      ready: CODEX_INPUT,
    },
    // State from the driver's hooks; the screen for slash commands, and if the hooks do not come.
    state: { method: 'hooks', quietMs: 600, busy: /esc to interrupt/, ready: CODEX_INPUT },
    stopKeys: ['Escape'],
    // Answers come from Codex's rollout; the screen only for what has no record (slash commands):
    // "• " before its first line and two spaces before the others.
    response: { strip: [/^\s*Worked for /, /^\s*└ Tip: /, /^■ Conversation interrupted/], remove: [/^[•◦] /, /^  /], source: 'screen' },
  },
  {
    ...defaults('gemini'),
    driver: 'gemini',
    // Our sandbox is the safety layer. --session-id/--resume and GEMINI_CLI_HOME (its hooks) are
    // added by the driver (gemini.ts).
    command: ['gemini', '--yolo'],
    install: 'npm install -g @google/gemini-cli',
    // Without it Gemini CLI asks whether to trust the folder (answered below if it still does).
    env: { GEMINI_CLI_TRUST_WORKSPACE: 'true' },
    passEnv: ['GEMINI_*', 'GOOGLE_*', ...PROXIES],
    startup: {
      timeoutMs: 60_000,
      dialogs: [{ match: /Do you trust the files in this folder\?/, keys: ['Enter'] }],
      ready: GEMINI_INPUT,
    },
    // State from the driver's hooks; the screen for slash commands, and if the hooks do not come.
    state: { method: 'hooks', quietMs: 600, busy: /esc to cancel/, ready: GEMINI_INPUT },
    stopKeys: ['Escape'],
    // Answers come from Gemini CLI's chat recording; the screen only for what has no record
    // (slash commands): "✦ " before its first line and two spaces before the others; the input
    // box's frame is not part of it.
    response: { strip: [/^\s*\? for shortcuts$/, /^─+$/, /^ YOLO Ctrl\+Y$/], remove: [/^✦ /, /^  /], source: 'screen' },
  },
];
