/**
 * A backend defined only in ~/.config/anvillm/backends.yaml — a bash script as the agent, no code
 * of ours — run as a full session through the daemon's agent/ (the anvillm client commands over
 * 9P), in real tmux and real bubblewrap. A broken definition is refused naming file, line and field.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { main } from '../../src/cli/anvillm.js';
import type { CommandIO } from '../../src/cli/io.js';
import { Client } from '../../src/ninep/client.js';
import type { SessionManager } from '../../src/session/manager.js';
import { descendants } from '../../src/session/processes.js';
import { fakeEnv, postAgent, type FakeEnv, type PostedAgent } from '../fixtures/fake-env.js';
import { alive, needs, until } from '../helpers.js';

/**
 * The agent: prints a banner and "ready>", answers a line with it upper-cased, "work N" works N
 * seconds in a child process and can be interrupted with Escape (the sandbox gives the agent no
 * controlling terminal, so Ctrl-C would not reach it as a signal: it reads keys itself).
 */
const SCRIPT = String.raw`echo "Shout agent 1.0"
while true; do
  printf 'ready> '
  IFS= read -r line || exit 0
  case "$line" in
    "work "*)
      echo "working..."
      sleep "${'$'}{line#work }" & job=$!
      stty -icanon -echo
      while kill -0 $job 2>/dev/null; do
        if IFS= read -rsn1 -t 0.1 key && [ "$key" = $'\e' ]; then kill $job; echo "stopped"; fi
      done
      wait $job 2>/dev/null
      stty icanon echo
      echo "worked" ;;
    *) printf '%s\n' "$line" | tr '[:lower:]' '[:upper:]' ;;
  esac
done`;

const BACKENDS = `# A user's own agent: a page of yaml.
backends:
  shout:
    label: Shout
    command: [bash, -c, ${JSON.stringify(SCRIPT)}, shout]
    install: "it is bash: apt-get install bash"
    startup: {timeout: 10s, ready: "^ready>$"}
    state: {method: quiet, quiet_ms: 300, ready: "^ready>$"}
    stop_keys: [Escape]
    response: {strip: ["^working\\\\.\\\\.\\\\.$"]}
  gone:
    command: [no-such-shout-agent, --loud]
    install: "pip install shout-agent"
`;

describe('a backend defined only in backends.yaml', { skip: needs('tmux', 'bwrap') }, () => {
  let world: FakeEnv;
  let env: NodeJS.ProcessEnv;
  let manager: SessionManager;
  let daemon: PostedAgent;
  let file = '';

  async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const io: CommandIO = { env, stdout: (l) => out.push(l), stderr: (l) => err.push(l) };
    const code = await main(args, io);
    return { code, out: out.join('\n'), err: err.join('\n') };
  }

  /** A file of a session, read over 9P (`anvillm read` writes to the process's own stdout). */
  async function read(session: string, name = 'out'): Promise<string> {
    const c = await Client.dial('agent', { env });
    try {
      return (await c.readFile(`${session}/${name}`)).toString();
    } finally {
      c.close();
    }
  }

  before(async () => {
    world = fakeEnv();
    env = { ...world.env, NAMESPACE: path.join(world.root, 'ns') };
    file = path.join(env['HOME']!, '.config', 'anvillm', 'backends.yaml');
    fs.writeFileSync(file, BACKENDS);
    daemon = await postAgent(world, env);
    manager = daemon.manager;
  });
  after(async () => {
    await daemon.close();
    world.remove();
  });

  let id = '';

  it('is listed, starts, and answers a prompt with exactly its reply', async () => {
    assert.ok(manager.backends().some((b) => b.name === 'shout' && b.label === 'Shout' && b.available));
    const dir = world.project('shouting');
    const created = await run('new', 'shout', dir, '--alias', 'loud');
    assert.equal(created.code, 0, created.err);
    id = created.out;
    assert.equal((await run('wait', 'loud', '--state', 'idle', '--timeout', '15')).code, 0, manager.get(id)?.err());
    const sent = await run('send', 'loud', 'hello there', '--wait');
    assert.deepEqual([sent.code, sent.out], [0, 'HELLO THERE'], sent.err);
    assert.equal(await read('loud', 'transcript'), 'USER: hello there\n\nASSISTANT: HELLO THERE\n\n');
  });

  it('is running while it works, however quiet, then idle with its answer', async () => {
    const s = manager.get(id)!;
    assert.equal((await run('send', 'loud', 'work 1.5')).code, 0);
    await until(() => s.state === 'running', 'running');
    await new Promise((r) => setTimeout(r, 900));
    assert.equal(await read('loud', 'state'), 'running\n', 'a child process is working');
    assert.equal((await run('wait', 'loud', '--state', 'idle', '--timeout', '10')).code, 0);
    assert.equal(await read('loud'), 'worked');
  });

  it('stop interrupts it', async () => {
    const s = manager.get(id)!;
    assert.equal((await run('send', 'loud', 'work 30')).code, 0);
    await until(() => s.state === 'running', 'running');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await run('stop', 'loud')).code, 0);
    assert.equal((await run('wait', 'loud', '--state', 'idle', '--timeout', '10')).code, 0);
    assert.match(await read('loud', 'screen'), /stopped\nworked\nready>\n$/);
  });

  it('saves its transcript (it has no save of its own) and refuses Load', async () => {
    const saved = await run('ctl', 'loud', 'save', 'talk.txt');
    assert.equal(saved.code, 0, saved.err);
    const text = fs.readFileSync(path.join(manager.get(id)!.cwd, 'talk.txt'), 'utf8');
    assert.match(text, /^USER: hello there\n\nASSISTANT: HELLO THERE\n\n/);
    const load = await run('ctl', 'loud', 'load', 'talk.txt');
    assert.equal(load.code, 1);
    assert.match(load.err, /shout cannot load a saved conversation: use Attach/);
  });

  it('kill ends it and every process it started', async () => {
    const s = manager.get(id)!;
    assert.equal((await run('send', 'loud', 'work 60')).code, 0);
    await until(() => s.state === 'running', 'running');
    const pids = [s.pid, ...descendants(s.pid)];
    assert.ok(pids.length >= 3, 'the sandbox, bash and its sleep');
    assert.equal((await run('kill', 'loud')).code, 0);
    assert.equal((await run('ls')).out.includes(id), false, 'a killed session leaves the list');
    await until(() => !pids.some(alive), `the agent's processes (${pids.join(' ')}) to end`, 5000);
  });

  it('a missing program is refused with its install hint', async () => {
    const r = await run('new', 'gone', world.project('gone'));
    assert.equal(r.code, 1);
    assert.match(r.err, /no-such-shout-agent is not installed: pip install shout-agent/);
  });

  it('a broken definition is refused with the file, line and field, and nothing starts', async () => {
    fs.writeFileSync(file, BACKENDS.replace('quiet_ms: 300', 'quiet_ms: soon'));
    const before = manager.list().length;
    const r = await run('new', 'shout', world.project('broken'));
    assert.equal(r.code, 1);
    assert.ok(r.err.includes(`${file}:8: backends.shout.state.quiet_ms:`), r.err);
    assert.equal(manager.list().length, before);
    fs.writeFileSync(file, BACKENDS);
  });
});
