#!/usr/bin/env node
/**
 * anvillm: the command-line entry point. Exit 0 ok, 1 error (message on stderr), 2 usage.
 * The daemon (serve, daemon), local files (sandbox) and the 9P client commands.
 */
import { fileURLToPath } from 'node:url';

import { CLIENT_USAGE, clientCommands } from './client-commands.js';
import { daemonCommand } from './daemon-command.js';
import { UsageError, processIO, type CommandIO } from './io.js';
import { sandboxCommand } from './sandbox-command.js';
import { serveCommand } from './serve.js';
import { worktreeCommand } from './worktree-command.js';

const USAGE = `usage: anvillm <command> [args]

commands:
  serve                       the daemon in the foreground (serves $NAMESPACE/agent)
  daemon start|stop|status    the daemon in the background (stop --kill-sessions ends the agents)
  sandbox check [--cwd DIR]   what a session would get from the sandbox policy
  sandbox show                the policy file and a summary
  worktree list|remove <dir>  worktree sessions' worktrees; remove one (refused while dirty)
${CLIENT_USAGE}

anvillm <command> --help tells more.`;

const commands: Record<string, (args: string[], io: CommandIO) => Promise<number> | number> = {
  serve: serveCommand,
  daemon: daemonCommand,
  sandbox: sandboxCommand,
  worktree: worktreeCommand,
  ...clientCommands,
};

export async function main(argv: string[], io: CommandIO = processIO): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined) {
    io.stderr(USAGE);
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    io.stdout(USAGE);
    return 0;
  }
  const command = commands[name];
  if (!command) {
    io.stderr(`anvillm: unknown command ${name}\n${USAGE}`);
    return 2;
  }
  try {
    return await command(args, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(e.message);
      return 2;
    }
    io.stderr(`anvillm ${name}: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
