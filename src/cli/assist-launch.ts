/**
 * `anvillm serve --assist` (npm start): when acme is running (its socket in the name space
 * answers), starts Assist next to the daemon, so /AnviLLM/ opens in it. Without acme it says how
 * to start Assist later.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { namespaceDir, socketAnswers } from '../ninep/namespace.js';
import type { CommandIO } from './io.js';

export async function startAssist(env: NodeJS.ProcessEnv, io: CommandIO): Promise<void> {
  const socket = path.join(namespaceDir(env), 'acme');
  if (!(await socketAnswers(socket))) {
    io.stderr(`anvillm: acme is not running (no ${socket}): start acme, then type Assist in a tag and click it with B2`);
    return;
  }
  const assist = path.join(path.dirname(fileURLToPath(import.meta.url)), 'assist.js');
  const child = spawn(process.execPath, [assist], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  child.on('error', (e) => io.stderr(`anvillm: cannot start Assist: ${e.message}`));
  io.stderr('anvillm: acme is running: Assist started (/AnviLLM/)');
}
