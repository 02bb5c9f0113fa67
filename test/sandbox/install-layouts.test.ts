/**
 * An agent installed the way most Node developers install tools (issue 15, item 1): the real Codex
 * CLI installed with `npm install -g --prefix <tmp>` (npm's global layout under a prefix of the
 * user's, as nvm, volta or ~/.npm-global make it) runs inside bubblewrap with the DEFAULT policy:
 * its launcher (bin/codex.js) loads its platform binary from the sibling package
 * @openai/codex-linux-x64, which the sandbox grants as part of the agent's installed package.
 * npm installs from its cache (--offline), else from the registry; where neither works the test
 * is skipped saying so.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { sandboxCommand } from '../../src/cli/sandbox-command.js';
import { DEFAULT_POLICY_YAML } from '../../src/sandbox/default-policy.js';
import { parsePolicy } from '../../src/sandbox/policy.js';
import { probe } from '../../src/sandbox/providers.js';
import { findOnPath } from '../../src/sandbox/resolve.js';
import { wrap } from '../../src/sandbox/sandbox.js';
import { agentsDir } from '../fixtures/real-agents.js';
import { tempDir } from '../helpers.js';

const found = await probe();
const pinned = (JSON.parse(fs.readFileSync(path.join(agentsDir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies['@openai/codex'];

/** npm install -g under `prefix`; null when it worked, else why not. */
function npmInstall(prefix: string): string | null {
  for (const mode of [['--offline'], []]) {
    const r = spawnSync('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', ...mode, `@openai/codex@${pinned}`], { encoding: 'utf8', timeout: 180_000 });
    if (r.status === 0) return null;
    if (mode.length === 0) return `npm install -g --prefix of @openai/codex@${pinned} failed (no npm cache and no registry?): ${(r.stderr || String(r.error)).trim().split('\n').pop()}`;
  }
  return 'unreachable';
}

describe('an agent installed with npm under a prefix of its own runs in the sandbox', { skip: found.bwrap.usable ? false : `bubblewrap is not usable: ${found.bwrap.problem}` }, () => {
  let tmp: ReturnType<typeof tempDir>;
  let problem: string | null = null;
  let prefix: string;
  let env: NodeJS.ProcessEnv;

  before(() => {
    tmp = tempDir();
    prefix = path.join(tmp.dir, 'npm-global');
    problem = npmInstall(prefix);
    const home = path.join(tmp.dir, 'home');
    fs.mkdirSync(path.join(home, '.config', 'anvillm'), { recursive: true });
    fs.writeFileSync(path.join(home, '.config', 'anvillm', 'sandbox.yaml'), DEFAULT_POLICY_YAML);
    env = { HOME: home, PATH: `${path.join(prefix, 'bin')}:/usr/bin:/bin`, LANG: 'C.UTF-8', TERM: 'xterm', XDG_STATE_HOME: path.join(tmp.dir, 'state') };
  });
  after(() => tmp.remove());

  it('codex --version runs inside bubblewrap with the default policy', (t) => {
    if (problem) return t.skip(problem);
    const project = path.join(tmp.dir, 'project');
    fs.mkdirSync(project);
    const stateDir = path.join(tmp.dir, 'state', 'anvillm', 'sessions', 'a1b2c3d4');
    fs.mkdirSync(stateDir, { recursive: true });
    const policy = parsePolicy(DEFAULT_POLICY_YAML.replace('provider: auto', 'provider: bwrap'), '/cfg/anvillm/sandbox.yaml');
    // As the daemon does: the program found on PATH, by its real path (in lib/node_modules).
    const w = wrap(policy, found, { cwd: project, stateDir, agentPath: findOnPath('codex', env)!, env }, { agentArgs: ['--version'], inherited: [] });
    const r = spawnSync(w.argv[0]!, w.argv.slice(1), { cwd: w.cwd, env: w.env, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`codex-cli ${pinned!.replace(/\./g, '\\.')}`));
  });

  it('anvillm sandbox check --agent codex shows the whole installed package granted', async (t) => {
    if (problem) return t.skip(problem);
    const lines: string[] = [];
    const status = await sandboxCommand(['check', '--agent', 'codex', '--cwd', tmp.dir], { env, stdout: (l) => lines.push(l), stderr: (l) => lines.push(l) });
    assert.equal(status, 0, lines.join('\n'));
    const modules = path.join(prefix, 'lib', 'node_modules');
    assert.ok(
      lines.some((l) => new RegExp(`^  rox  ${modules.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} +the agent's installed package and its platform packages$`).test(l)),
      lines.join('\n'),
    );
  });
});
