/**
 * Nothing written inside runs outside (DESIGN §4). The ONE list of paths that programs outside the
 * sandbox execute or obey — git, shells, editors, and the agents themselves when the user runs
 * them directly — which stay read-only inside every writable grant. Anchor: Anthropic's
 * sandbox-runtime ("mandatory deny" paths).
 *
 * A protected path that does not exist yet must not be creatable either. Under bubblewrap that
 * needs something mounted there, and a mount point inside a writable bind is made on the host:
 * so each entry says what stands in for it when absent, chosen to change nothing for the programs
 * that read it (an empty directory git does not take for a repository, `{}` settings, a
 * `commondir` of "." that names the git directory itself), or null when nothing neutral exists
 * and why that is acceptable.
 */
import path from 'node:path';

import { configHome, homeDir } from './policy.js';

type Env = NodeJS.ProcessEnv;

/** What is made on the host for an absent protected path, so it can be bound read-only. */
export type Placeholder = { kind: 'dir' } | { kind: 'file'; content: string };

export interface ProtectedName {
  /** Relative to its base directory. */
  name: string;
  /** Made when absent; null: left absent (see the list for why that is acceptable). */
  absent: Placeholder | null;
  why: string;
}

const DIR: Placeholder = { kind: 'dir' };
const EMPTY_JSON: Placeholder = { kind: 'file', content: '{}\n' };
const EMPTY_FILE: Placeholder = { kind: 'file', content: '' };
const name = (n: string, absent: Placeholder | null, why: string): ProtectedName => ({ name: n, absent, why });

/**
 * Inside each git directory (a repository's .git, a submodule's .git/modules/<name>, a linked
 * worktree's .git/worktrees/<name>): what the user's next `git status` runs or obeys.
 */
export const GIT_DIR: readonly ProtectedName[] = [
  name('hooks', DIR, 'git runs its hooks'),
  name('config', EMPTY_FILE, 'git config: core.fsmonitor, hooksPath, pager, editor, filter/diff drivers, aliases'),
  // Read instead of `config` once extensions.worktreeConfig is on; empty reads as no config.
  name('config.worktree', EMPTY_FILE, 'git reads it as config'),
  // Sends git to another directory's hooks and config; "." is the git directory itself.
  name('commondir', { kind: 'file', content: '.\n' }, 'it redirects git to another hooks and config'),
];

/** In the session's directory and every writable directory grant. */
export const PROJECT: readonly ProtectedName[] = [
  // An empty .git directory is no repository to git, which looks further up as before.
  name('.git', DIR, 'git init would make a config git obeys (core.fsmonitor)'),
  name('.vscode', DIR, 'VS Code runs its tasks and settings'),
  name('.idea', DIR, 'JetBrains IDEs run its run configurations'),
  name('.claude/settings.json', EMPTY_JSON, "Claude Code's project hooks"),
  name('.claude/settings.local.json', EMPTY_JSON, "Claude Code's project hooks"),
  name('.claude/commands', DIR, "Claude Code's project commands"),
  name('.claude/agents', DIR, "Claude Code's project agents"),
  name('.claude/skills', DIR, "Claude Code's project skills"),
  name('.claude/hooks', DIR, "Claude Code's hook scripts"),
  // Claude Code asks before it uses a project's MCP servers.
  name('.mcp.json', null, 'MCP servers Claude Code starts; it asks before using a new one'),
  name('.gemini', DIR, "Gemini CLI's project settings, hooks and .env"),
  // An empty .codex makes Codex ask to trust the folder (measured): not neutral. Codex asks
  // before it obeys a new .codex in a folder not yet trusted.
  name('.codex', null, "Codex's project config; in a folder not yet trusted it asks first"),
  name('.kiro', DIR, "Kiro's project agents and their hooks"),
  // direnv asks `direnv allow` for every new or changed .envrc.
  name('.envrc', null, 'direnv runs it; it asks you to allow a new one'),
];

/**
 * In the home directory when a writable grant covers it. Absent ones need no placeholder: the home
 * directory is then sealed (bwrapArgv), nothing new can be made at its top.
 */
export const HOME: readonly ProtectedName[] = [
  ...['.bashrc', '.bash_profile', '.bash_login', '.bash_logout', '.profile', '.zshrc', '.zshenv', '.zprofile', '.zlogin', '.zlogout', '.inputrc'].map(
    (n) => name(n, null, 'the shell runs it'),
  ),
  name('.config/fish', DIR, 'fish runs it'),
  name('.gitconfig', null, 'git config (core.fsmonitor, hooksPath, aliases)'),
  name('.config/git', DIR, 'git config'),
  name('.ssh', null, 'ssh config (ProxyCommand) and keys'),
  name('.npmrc', null, 'npm config (script-shell, node-options)'),
  name('.local/bin', null, 'commands on your PATH'),
  name('bin', null, 'commands on your PATH'),
  name('.config/autostart', DIR, 'the desktop runs it at login'),
  name('.config/systemd', DIR, 'systemd --user runs its units'),
];

const CLAUDE: readonly ProtectedName[] = [
  name('settings.json', EMPTY_JSON, 'Claude Code: hooks, statusLine, permissions'),
  name('CLAUDE.md', null, 'Claude Code obeys it; instructions, not commands'),
  ...['commands', 'agents', 'skills', 'hooks', 'plugins', 'output-styles'].map((n) => name(n, DIR, 'Claude Code runs or obeys it')),
];

const CODEX: readonly ProtectedName[] = [
  name('config.toml', EMPTY_FILE, 'Codex: notify, hooks, MCP servers, model providers'),
  name('hooks.json', null, 'Codex: hooks; no empty file is neutral'),
  name('AGENTS.md', null, 'Codex obeys it; instructions, not commands'),
  ...['prompts', 'rules', 'skills', 'hooks', 'plugins'].map((n) => name(n, DIR, 'Codex runs or obeys it')),
];

const GEMINI: readonly ProtectedName[] = [
  name('settings.json', EMPTY_JSON, 'Gemini CLI: hooks, MCP servers, tool discovery commands'),
  // An empty one would hide ~/.env from Gemini CLI, which reads the first it finds.
  name('.env', null, 'Gemini CLI loads its variables; an empty one would hide ~/.env'),
  name('trustedFolders.json', EMPTY_JSON, 'Gemini CLI: folders whose settings it obeys'),
  // An empty one shows as "1 GEMINI.md file" in Gemini's footer (measured): not neutral.
  name('GEMINI.md', null, 'Gemini CLI obeys it; instructions, not commands'),
  ...['commands', 'extensions', 'policies'].map((n) => name(n, DIR, 'Gemini CLI runs or obeys it')),
];

// The Kiro driver writes its per-session agent into agents/ from outside the sandbox.
const KIRO: readonly ProtectedName[] = ['agents', 'settings', 'steering', 'hooks'].map((n) => name(n, DIR, 'Kiro runs or obeys it'));

/**
 * The agents' own homes, where the user's direct, unsandboxed run finds hooks, MCP servers and
 * notify programs: the default ones (the user's own run) and, when the session's environment
 * moves one ($CLAUDE_CONFIG_DIR, $CODEX_HOME, $GEMINI_CLI_HOME: a driver may give a session a home
 * of its own), that one too.
 */
export function agentHomes(env: Env): { base: string; names: readonly ProtectedName[] }[] {
  const home = homeDir(env);
  const both = (moved: string | undefined, usual: string, names: readonly ProtectedName[]) =>
    [...new Set([usual, moved || usual])].map((base) => ({ base, names }));
  return [
    // Claude Code's state file (MCP servers) when $CLAUDE_CONFIG_DIR is not set, as in the user's
    // own run. Sessions keep theirs in the config directory (backends/claude.ts, sessionStateFile).
    { base: home, names: [name('.claude.json', null, 'Claude Code: MCP servers (sessions keep their own state file)')] },
    ...both(env['CLAUDE_CONFIG_DIR'], path.join(home, '.claude'), CLAUDE),
    ...both(env['CODEX_HOME'], path.join(home, '.codex'), CODEX),
    ...both(env['GEMINI_CLI_HOME'] && path.join(env['GEMINI_CLI_HOME'], '.gemini'), path.join(home, '.gemini'), GEMINI),
    { base: path.join(home, '.kiro'), names: KIRO },
  ];
}

/** AnviLLM's own configuration: an agent must not rewrite its sandbox or backends for the next session. */
export function ownConfig(env: Env): string {
  return path.join(configHome(env), 'anvillm');
}
