import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { main } from '../../src/cli/anvillm.js';
import type { CommandIO } from '../../src/cli/io.js';
import { tempDir } from '../helpers.js';

async function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CommandIO = { env, stdout: (l) => out.push(l), stderr: (l) => err.push(l) };
  const code = await main(args, io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('anvillm sandbox', () => {
  it('check prints the provider, the paths with their access, the environment and the exact argv', async () => {
    const tmp = tempDir();
    try {
      const env = { HOME: tmp.dir, PATH: process.env['PATH'], LANG: 'C' };
      const r = await run(['sandbox', 'check', '--cwd', tmp.dir, '--agent', 'sh'], env);
      const bwrapHere = fs.existsSync('/usr/bin/bwrap') || (process.env['PATH'] ?? '').split(':').some((d) => fs.existsSync(path.join(d, 'bwrap')));
      if (bwrapHere) {
        assert.equal(r.code, 0, r.err);
        assert.match(r.out, /^provider: {2}bwrap$/m);
        assert.match(r.out, new RegExp(`^  rw {3}${tmp.dir.replaceAll('/', '\\/')} `, 'm'));
        assert.match(r.out, /^ {2}rox {2}\/usr /m);
        assert.match(r.out, /^env: {7}HOME LANG PATH TMPDIR$/m);
        assert.match(r.out, /^argv: {6}\S*bwrap --unshare-all .* -- \S*sh$/m);
      } else {
        assert.equal(r.code, 1);
      }
      assert.ok(fs.existsSync(path.join(tmp.dir, '.config', 'anvillm', 'sandbox.yaml')), 'the default policy was written');
    } finally {
      tmp.remove();
    }
  });

  it('check lists the protected paths, what stands in for absent ones, and what the policy releases', async () => {
    const tmp = tempDir();
    try {
      const repo = path.join(tmp.dir, 'repo');
      fs.mkdirSync(path.join(repo, '.git', 'hooks'), { recursive: true });
      fs.writeFileSync(path.join(repo, '.git', 'config'), '');
      fs.writeFileSync(path.join(repo, '.git', 'HEAD'), 'ref: refs/heads/main\n');
      const env = { HOME: tmp.dir, PATH: process.env['PATH'], LANG: 'C' };
      const first = await run(['sandbox', 'check', '--cwd', repo, '--agent', 'sh'], env);
      const policy = path.join(tmp.dir, '.config', 'anvillm', 'sandbox.yaml');
      fs.writeFileSync(policy, fs.readFileSync(policy, 'utf8').replace('unprotect: []', 'unprotect: ["{CWD}/.vscode"]'));
      const r = await run(['sandbox', 'check', '--cwd', repo, '--agent', 'sh'], env);
      if (first.code !== 0) return; // no provider here: the refusal is the previous test's
      const line = (p: string, rest: string) => new RegExp(`^  ${p.replaceAll('/', '\\/').replaceAll('.', '\\.')} +${rest}`, 'm');
      assert.match(first.out, line(`ro   ${repo}/.git/hooks`, 'git runs its hooks$'));
      assert.match(first.out, line(`ro   ${repo}/.git/commondir`, '.*\\(absent: made as a file holding "\\.\\\\n"\\)$'));
      assert.match(first.out, line(`ro   ${repo}/.vscode`, '.*\\(absent: made as an empty directory\\)$'));
      assert.match(first.out, line(`-    ${repo}/.envrc`, '.*\\(absent: not protected until it exists\\)$'));
      assert.match(r.out, line(`rw   ${repo}/.vscode`, 'RELEASED by sandbox\\.yaml:\\d+: '));
      assert.equal(fs.existsSync(path.join(repo, '.vscode')), false, 'check makes nothing');
    } finally {
      tmp.remove();
    }
  });

  it('check exits 1 with the reason when a session would be refused', async () => {
    const tmp = tempDir();
    try {
      // No provider on this PATH; sh is found by absolute path.
      const r = await run(['sandbox', 'check', '--cwd', tmp.dir, '--agent', '/bin/sh'], { HOME: tmp.dir, PATH: path.join(tmp.dir, 'empty') });
      assert.equal(r.code, 1);
      assert.match(r.out, /a session would be REFUSED/);
      assert.match(r.err, /no provider can enforce .* so the agent was not started/);
      assert.match(r.err, /best_effort/);
    } finally {
      tmp.remove();
    }
  });

  it('a broken policy file is an error naming the file and line', async () => {
    const tmp = tempDir();
    try {
      const file = path.join(tmp.dir, '.config', 'anvillm', 'sandbox.yaml');
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, 'general:\n  best_efort: true\n');
      const r = await run(['sandbox', 'show'], { HOME: tmp.dir });
      assert.equal(r.code, 1);
      assert.match(r.err, new RegExp(`${file}:2: general\\.best_efort: unknown key`));
      assert.equal(fs.readFileSync(file, 'utf8'), 'general:\n  best_efort: true\n', 'the file is left as the user wrote it');
    } finally {
      tmp.remove();
    }
  });

  it('show summarises the file; usage errors exit 2; --help exits 0', async () => {
    const tmp = tempDir();
    try {
      const r = await run(['sandbox', 'show'], { HOME: tmp.dir });
      assert.equal(r.code, 0);
      assert.match(r.out, /sandbox\.yaml\nmode: {6}strict/);
      assert.equal((await run(['sandbox', 'frobnicate'], { HOME: tmp.dir })).code, 2);
      assert.equal((await run(['sandbox', 'check', '--bogus'], { HOME: tmp.dir })).code, 2);
      assert.equal((await run([], {})).code, 2);
      assert.equal((await run(['nonsense'], {})).code, 2);
      const help = await run(['sandbox', '--help'], {});
      assert.equal(help.code, 0);
      assert.match(help.out, /usage: anvillm sandbox check/);
    } finally {
      tmp.remove();
    }
  });
});
