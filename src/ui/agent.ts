/**
 * Assist's side of agent/ (DESIGN §2): the daemon's files over 9P, through the protocol's client,
 * nothing else. Assist never touches sessions or tmux itself; what it shows and does goes through
 * these files.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { namespaceDir } from '../ninep/namespace.js';
import { AgentClient } from '../protocol/client.js';
import type { BackendLine } from '../protocol/protocol.js';

/** A session as the table shows it ("" for no alias). */
export interface Row {
  id: string;
  backend: string;
  state: string;
  pid: string;
  alias: string;
  cwd: string;
}

export type Backend = BackendLine;

/** The sessions, newest first. */
export async function rows(agent: AgentClient): Promise<Row[]> {
  return (await agent.list()).map((l) => ({ ...l, alias: l.alias ?? '' }));
}

/**
 * Connects to the daemon; when none answers, starts one (`anvillm daemon start`) and connects.
 * `agentAddress` overrides the name space's `agent` (tests).
 */
export async function connectAgent(env: NodeJS.ProcessEnv, agentAddress = 'agent', startDaemon = true): Promise<AgentClient> {
  try {
    return await AgentClient.dial(env, agentAddress);
  } catch (e) {
    if (!startDaemon) throw e;
  }
  const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'anvillm.js');
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, [cli, 'daemon', 'start'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('exit', (c) => resolve(c ?? 1));
    child.on('error', () => resolve(1));
  });
  if (code !== 0) throw new Error(`no daemon answers at ${path.join(namespaceDir(env), 'agent')} and \`anvillm daemon start\` failed`);
  return AgentClient.dial(env, agentAddress);
}
