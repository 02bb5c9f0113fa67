#!/usr/bin/env node
// `npm test`: every test file, two at a time, then the real agents (Claude Code, Codex, Gemini)
// one file at a time on their own — they are heavy, and timing-sensitive under load (DESIGN §7).
// Arguments (e.g. --test-reporter=spec) are passed to node --test. A hung file fails after 5 min.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const testDir = path.join(root, 'dist', 'test');
const files = fs
  .readdirSync(testDir, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .flatMap((d) => fs.readdirSync(path.join(testDir, d.name)).filter((f) => f.endsWith('.test.js')).map((f) => path.join('dist', 'test', d.name, f)))
  .sort();
const heavy = (f) => /\/(claude|real-agents)\.test\.js$/.test(f);

function run(concurrency, list) {
  if (list.length === 0) return 0;
  const args = ['--test', `--test-concurrency=${concurrency}`, '--test-timeout=300000', ...process.argv.slice(2), ...list];
  return spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' }).status ?? 1;
}

const light = run(2, files.filter((f) => !heavy(f)));
const real = run(1, files.filter(heavy));
process.exit(light || real);
