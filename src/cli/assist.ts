#!/usr/bin/env node
/**
 * Assist: the Acme UI. Type `Assist` in an acme tag and click it with B2: it opens /AnviLLM/ (or
 * shows it, when an Assist already runs) and starts the daemon when none answers. Its stderr is
 * what acme shows in +Errors.
 */
import { fileURLToPath } from 'node:url';

import { runAssist } from '../ui/assist.js';

export const ASSIST_USAGE = `usage: Assist

The Acme UI of AnviLLM: run it from acme (type Assist in a tag, click it with B2).
It opens /AnviLLM/, the table of sessions; see the README's "Assist" section for its commands.`;

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  if (args.length > 0) {
    process.stdout.write(`${ASSIST_USAGE}\n`);
    process.exit(args[0] === '--help' || args[0] === '-h' ? 0 : 2);
  }
  runAssist({ env: process.env, cwd: process.cwd(), stderr: (line) => process.stderr.write(`${line}\n`) }).then((code) => process.exit(code));
}
