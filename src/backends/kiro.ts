/**
 * Kiro CLI tells its turns through an agent's hooks (kiro.dev/docs/cli/hooks): userPromptSubmit
 * when it takes a prompt (running) and stop when it has finished answering (idle). Hooks belong to
 * an agent, a JSON file in `.kiro/agents/` (project) or `~/.kiro/agents/` (global), chosen with
 * `--agent NAME`: each session gets its own, `~/.kiro/agents/anvillm-<id>.json`, removed when the
 * session ends; the user's agents are never touched. Kiro keeps no record we could read, so its
 * answers are still read from its output (the session's screen extraction): this driver gives
 * state hints only (`turns: false`). A Kiro that never runs our hooks (a version that ignores
 * --agent, a command naming its own agent) leaves the session on the quiet fallback.
 *
 * The agent file is as close to Kiro's default agent (kiro_default) as its documentation says:
 * all tools (`"*"`; --trust-all-tools trusts them), the MCP servers of mcp.json, and the steering
 * files, which a custom agent does not load unless its resources name them
 * (docs/cli/custom-agents/configuration-reference, docs/cli/steering). AGENTS.md is always loaded.
 */
import fs from 'node:fs';
import path from 'node:path';

import { homeDir } from '../sandbox/policy.js';
import type { Driver, DriverContext, Hint, Turn } from './driver.js';
import { HookInbox, installHook, type HookReport } from './hook-inbox.js';
import { writeOwnFile } from './untrusted.js';

/** Ours never fail (hook-inbox.ts); Kiro's default timeout is 30 s, ours is a file write. */
const HOOK_TIMEOUT_MS = 10_000;

export function kiroDriver(ctx: DriverContext): Driver {
  return new KiroDriver(ctx);
}

/** Where Kiro looks for global agents. */
export function kiroAgentsDir(env: NodeJS.ProcessEnv): string {
  return path.join(homeDir(env), '.kiro', 'agents');
}

/** True when the backend's own command already chooses an agent: ours cannot be added then. */
function namesAgent(args: readonly string[]): boolean {
  return args.some((a) => a === '--agent' || a.startsWith('--agent='));
}

class KiroDriver implements Driver {
  readonly turns = false;
  private readonly name: string;
  private readonly agentFile: string;
  private inbox: HookInbox | null = null;

  constructor(private readonly ctx: DriverContext) {
    this.name = `anvillm-${ctx.id}`;
    this.agentFile = path.join(kiroAgentsDir(ctx.env), `${this.name}.json`);
  }

  launch(): { args: string[]; env: Record<string, string> } {
    if (namesAgent(this.ctx.args)) return { args: [], env: {} };
    const hook = installHook(this.ctx.stateDir);
    const home = homeDir(this.ctx.env);
    const agent = {
      name: this.name,
      description: `AnviLLM session ${this.ctx.id}: Kiro's default agent plus hooks that tell AnviLLM its state (removed when the session ends)`,
      tools: ['*'],
      allowedTools: [],
      resources: ['file://.kiro/steering/**/*.md', `file://${path.join(home, '.kiro', 'steering')}/**/*.md`],
      includeMcpJson: true,
      hooks: {
        userPromptSubmit: [{ command: hook('userPromptSubmit'), timeout_ms: HOOK_TIMEOUT_MS }],
        stop: [{ command: hook('stop'), timeout_ms: HOOK_TIMEOUT_MS }],
      },
    };
    // The sandbox grants ~/.kiro only if it exists: made before the start.
    fs.mkdirSync(path.dirname(this.agentFile), { recursive: true, mode: 0o700 });
    // ~/.kiro is the agent's to write: a link planted at the name is replaced, not followed.
    writeOwnFile(this.agentFile, `${JSON.stringify(agent, null, 2)}\n`, 0o600);
    return { args: ['--agent', this.name], env: {} };
  }

  listen(hint: (h: Hint) => void): void {
    this.inbox ??= new HookInbox(this.ctx.stateDir, (r) => this.onHook(r, hint));
  }

  private onHook(r: HookReport, hint: (h: Hint) => void): void {
    if (r.event === 'userPromptSubmit') hint({ kind: 'submitted', at: r.at });
    else if (r.event === 'stop') hint({ kind: 'idle', at: r.at });
  }

  /** Kiro has no status of its own to read. */
  status(): null {
    return null;
  }

  /** Its answers are read from its output (turns: false). */
  takeTurns(): Turn[] {
    return [];
  }

  record(): Record<string, string> {
    return {};
  }

  close(): void {
    this.inbox?.close();
    this.inbox = null;
    try {
      fs.unlinkSync(this.agentFile);
    } catch {
      // never written (an agent named by the command), or already gone
    }
  }
}
