#!/usr/bin/env node
// Runs before `npm start`, `npm test` and `npm run bench`: installs the npm dependencies when they
// are missing or stale, builds with tsc, and checks the system packages, saying how to install
// what is missing. Plain JavaScript with no dependencies, so it runs on a fresh clone.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const task = process.argv[2] ?? 'start';

function fail(message) {
  console.error(`anvillm: ${message}`);
  process.exit(1);
}

const major = Number(process.versions.node.split('.')[0]);
if (major < 20) fail(`Node.js ${process.versions.node} is too old: install Node.js 20 or newer`);

function mtime(file) {
  return fs.statSync(path.join(root, file), { throwIfNoEntry: false })?.mtimeMs ?? 0;
}

const installed = mtime('node_modules/.package-lock.json');
if (installed === 0 || installed < mtime('package-lock.json') || installed < mtime('package.json')) {
  console.error('anvillm: installing npm dependencies (npm ci)…');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
}

execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {
  cwd: root,
  stdio: 'inherit',
});

// System programs, and what needs them. Missing ones are reported with the command that installs them.
const programs = [
  { name: 'tmux', pkg: 'tmux', why: 'every agent session runs in a tmux window' },
  { name: 'bwrap', pkg: 'bubblewrap', why: 'the bubblewrap sandbox provider' },
];

function onPath(name) {
  return (process.env.PATH ?? '').split(':').some((dir) => {
    try {
      fs.accessSync(path.join(dir || '.', name), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const missing = programs.filter((p) => !onPath(p.name));
if (missing.length > 0) {
  const pkgs = missing.map((p) => p.pkg).join(' ');
  console.error(`anvillm: missing system packages (${task === 'test' ? 'the tests that need them will be skipped' : `needed for ${task}`}):`);
  for (const p of missing) console.error(`  ${p.name}: ${p.why}`);
  console.error(`  install them with: sudo apt-get install ${pkgs}   (Fedora: sudo dnf install ${pkgs}; Arch: sudo pacman -S ${pkgs})`);
}
