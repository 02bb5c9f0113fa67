/** Process trees from /proc, and ending what a closed terminal leaves behind. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';

import { descendants, endTree, processIdentity } from '../../src/session/processes.js';

describe('processes', () => {
  it('endTree ends a process that ignores hangup and termination, and spares a pid not started then', async () => {
    const stubborn = spawn('sh', ['-c', 'trap "" HUP TERM; sleep 30 & wait'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 200));
    const pid = stubborn.pid!;
    assert.equal(descendants(pid).length, 1, 'its sleep');
    const tree = [pid, ...descendants(pid)].map((p) => ({ pid: p, identity: processIdentity(p) }));
    process.kill(pid, 'SIGHUP');
    const exited = new Promise((r) => stubborn.on('exit', r));
    await endTree([...tree, { pid: process.pid, identity: 'not this one' }], 300);
    await exited;
    assert.equal(processIdentity(pid), null);
    assert.ok(processIdentity(process.pid) !== null, 'a pid whose start time differs is left alone');
  });
});
