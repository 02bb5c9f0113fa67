/**
 * Creating a session, for `npm run bench`: from the `new` (SessionManager.create, what agent/ctl
 * calls) to the agent's exec — the moment its program (`sleep`) runs inside bubblewrap, found in
 * /proc under the window's process. Real tmux on a private socket, real bubblewrap.
 *
 * With `--against` (bench/run.ts), another commit's checkout is measured in the same run, its
 * creates interleaved with ours, so that both see the same load.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const CREATES = 15;

/** A built checkout of another commit (bench/compare.ts, checkoutOf). */
export interface Checkout {
  dir: string;
  label: string;
}

interface Created {
  pid: number;
}
interface Manager {
  create(backend: string, cwd: string): Promise<Created>;
  killAll(): Promise<void>;
  close(): void;
}
interface Variant {
  label: string;
  manager: Manager;
  socket: string;
  times: number[];
}

/** A process under `pid` named `comm` (the agent, exec'd by bubblewrap's child). */
function hasDescendant(pid: number, comm: string): boolean {
  const frontier = [pid];
  while (frontier.length > 0) {
    const p = frontier.pop()!;
    let children: string[] = [];
    try {
      children = fs.readFileSync(`/proc/${p}/task/${p}/children`, 'latin1').trim().split(' ').filter(Boolean);
    } catch {
      // gone, or not readable
    }
    for (const c of children) {
      try {
        if (fs.readFileSync(`/proc/${c}/comm`, 'latin1').trim() === comm) return true;
      } catch {
        // gone meanwhile
      }
      frontier.push(Number(c));
    }
  }
  return false;
}

async function execed(pid: number): Promise<void> {
  const end = Date.now() + 10_000;
  while (!hasDescendant(pid, 'sleep')) {
    if (Date.now() > end) throw new Error('the agent was not exec\'d within 10 s');
    await new Promise((r) => setImmediate(r));
  }
}

/** A manager of the checkout at `repo` (its dist/), in a home of its own. */
async function variant(label: string, repo: string, root: string): Promise<Variant> {
  const dist = (rel: string) => pathToFileURL(path.join(repo, 'dist', rel)).href;
  const { SessionManager } = (await import(dist('src/session/manager.js'))) as { SessionManager: new (o: object) => Manager };
  const { Tmux } = (await import(dist('src/tmux/tmux.js'))) as { Tmux: new (o: object) => unknown };
  const home = path.join(root, 'home');
  const config = path.join(home, '.config', 'anvillm');
  fs.mkdirSync(config, { recursive: true });
  fs.writeFileSync(path.join(config, 'backends.yaml'), 'backends:\n  idle:\n    command: [sleep, infinity]\n    state: {method: quiet, quiet_ms: 100}\n');
  // No sandbox.yaml: each checkout writes its own default (the policy's keys change between commits).
  const socket = path.join(root, 'tmux', 'sock');
  fs.mkdirSync(path.dirname(socket), { mode: 0o700 });
  const env = { HOME: home, USER: os.userInfo().username, PATH: process.env['PATH'], LANG: 'C.UTF-8', XDG_STATE_HOME: path.join(root, 'state'), ANVILLM_TMUX_SOCKET: socket };
  const tmux = new Tmux({ socket, configFile: '/dev/null', env });
  return { label, manager: new SessionManager({ env, tmux }), socket, times: [] };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function benchCreate(line: (label: string, value: string, rest: string) => void, repo: string, against: Checkout | null): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'anvillm-bench-create-'));
  const variants: Variant[] = [];
  try {
    variants.push(await variant('create a session (new → exec)', repo, path.join(root, 'this')));
    if (against) variants.push(await variant(`  the same, ${against.label}`, against.dir, path.join(root, 'against')));
    const cwd = path.join(root, 'work');
    fs.mkdirSync(cwd);
    // The first create of each also starts its tmux server: not counted.
    for (let i = 0; i <= CREATES; i++) {
      for (const v of variants) {
        const t0 = performance.now();
        const s = await v.manager.create('idle', cwd);
        await execed(s.pid);
        if (i > 0) v.times.push(performance.now() - t0);
      }
    }
    for (const v of variants) {
      const what = v === variants[0] ? 'target ≤ 100 ms median; the original slept 500 ms' : 'interleaved with the line above';
      line(v.label, `${median(v.times).toFixed(0)} ms`, `median of ${CREATES}; max ${Math.max(...v.times).toFixed(0)} ms (${what})`);
    }
  } finally {
    for (const v of variants) {
      await v.manager.killAll().catch(() => {});
      v.manager.close();
      try {
        execFileSync('tmux', ['-S', v.socket, 'kill-server'], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
    fs.rmSync(root, { recursive: true, force: true });
  }
}
