/**
 * What of an agent's installation the sandbox grants read+execute, for the layouts Node tools are
 * installed in (issue 15, item 1). Real files and symlinks laid out as each installer does; the
 * real npm install of a real CLI is in install-layouts.test.ts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { agentPackage } from '../../src/sandbox/resolve.js';
import { tempDir } from '../helpers.js';

function file(p: string, text: string): void {
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, text, { mode: 0o755 });
}

function link(target: string, at: string): void {
  fs.mkdirSync(path.dirname(at), { recursive: true });
  fs.symlinkSync(target, at);
}

describe("the agent's installed package", () => {
  let tmp: ReturnType<typeof tempDir>;
  let env: NodeJS.ProcessEnv;
  before(() => {
    tmp = tempDir();
    env = { HOME: path.join(tmp.dir, 'home'), PATH: '/usr/bin:/bin' };
  });
  after(() => tmp.remove());
  const granted = (agent: string) => agentPackage(agent, env).map(([dir, why]) => `${path.relative(tmp.dir, dir)}: ${why}`);

  it("pnpm: the outermost node_modules, which holds the .pnpm store its platform packages live in", () => {
    const pkg = path.join(tmp.dir, 'proj', 'node_modules', '.pnpm', 'agent@1.0.0', 'node_modules', 'agent');
    file(path.join(pkg, 'bin', 'agent.js'), '#!/bin/sh\n');
    link(path.join(pkg, 'bin', 'agent.js'), path.join(tmp.dir, 'proj', 'node_modules', '.bin', 'agent'));
    assert.deepEqual(granted(path.join(tmp.dir, 'proj', 'node_modules', '.bin', 'agent')), [
      'proj/node_modules/.pnpm/agent@1.0.0/node_modules/agent/bin: the agent program',
      `${path.relative(tmp.dir, '/usr/bin')}: the agent's interpreter`,
      "proj/node_modules: the agent's installed package and its platform packages",
    ]);
  });

  it('a package unpacked outside node_modules: the directory whose package.json declares the program', () => {
    const pkg = path.join(env['HOME']!, '.local', 'lib', 'tool');
    file(path.join(pkg, 'package.json'), JSON.stringify({ name: 'tool', bin: { tool: 'dist/cli/tool.js' } }));
    file(path.join(pkg, 'dist', 'cli', 'tool.js'), '#!/bin/sh\n');
    link(path.join(pkg, 'dist', 'cli', 'tool.js'), path.join(env['HOME']!, '.local', 'bin', 'tool'));
    assert.deepEqual(granted(path.join(env['HOME']!, '.local', 'bin', 'tool')).slice(-1), ["home/.local/lib/tool: the agent's installed package"]);
  });

  it('never the home directory, nor a package.json that does not declare the program', () => {
    file(path.join(env['HOME']!, 'package.json'), JSON.stringify({ name: 'mine', bin: 'other.js' }));
    file(path.join(env['HOME']!, 'bin', 'x'), '#!/bin/sh\n');
    file(path.join(tmp.dir, 'opt', 'thing', 'package.json'), JSON.stringify({ name: 'thing' }));
    file(path.join(tmp.dir, 'opt', 'thing', 'bin', 'thing'), '#!/bin/sh\n');
    assert.deepEqual(granted(path.join(env['HOME']!, 'bin', 'x')), ['home/bin: the agent program', `${path.relative(tmp.dir, '/usr/bin')}: the agent's interpreter`]);
    assert.deepEqual(granted(path.join(tmp.dir, 'opt', 'thing', 'bin', 'thing')).length, 2);
  });
});
