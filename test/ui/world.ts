/**
 * A world for Assist's tests: a real daemon's agent/ (real tmux on a private socket, the scripted
 * fake agent) and the fake acme, both posted in a private name space, and Assist running on
 * them in this process, its stderr collected.
 */
import fs from 'node:fs';
import path from 'node:path';

import { agentTree } from '../../src/agentfs/agentfs.js';
import { post, type Posted } from '../../src/ninep/namespace.js';
import { Server } from '../../src/ninep/server.js';
import type { SessionManager } from '../../src/session/manager.js';
import { runAssist } from '../../src/ui/assist.js';
import { FakeAcme, type FakeWindow } from '../fixtures/fake-acme.js';
import { fakeEnv, type FakeEnv } from '../fixtures/fake-env.js';
import { until } from '../helpers.js';

export interface AssistWorld {
  world: FakeEnv;
  env: NodeJS.ProcessEnv;
  acme: FakeAcme;
  manager: SessionManager;
  /** Assist's stderr lines. */
  errors: string[];
  /** Resolves with Assist's exit status. */
  exited: Promise<number>;
  cwd: string;
  /** The /AnviLLM/ window. */
  main(): FakeWindow;
  /** Resolves when the window called `name` exists and Assist reads its events. */
  window(name: string): Promise<FakeWindow>;
  close(): Promise<void>;
}

export async function assistWorld(extraEnv: NodeJS.ProcessEnv = {}): Promise<AssistWorld> {
  const world = fakeEnv();
  const ns = path.join(world.root, 'ns');
  fs.mkdirSync(ns, { mode: 0o700 });
  const env: NodeJS.ProcessEnv = { ...world.env, NAMESPACE: ns, ...extraEnv };
  const manager = world.manager();
  const server = new Server(agentTree(manager));
  const posted: Posted = await post('agent', server, env);
  const acme = new FakeAcme({ user: env['USER']! });
  const stopAcme = await acme.listen(path.join(ns, 'acme'));
  const errors: string[] = [];
  const cwd = world.project('home-dir');
  const exited = runAssist({ env, cwd, stderr: (l) => errors.push(l), startDaemon: false });
  const window = async (name: string) => {
    await until(() => {
      const w = acme.byName(name);
      return w !== undefined && acme.reading(w.id);
    }, `window ${name}`);
    return acme.byName(name)!;
  };
  await window('/AnviLLM/');
  return {
    world,
    env,
    acme,
    manager,
    errors,
    exited,
    cwd,
    main: () => acme.byName('/AnviLLM/')!,
    window,
    close: async () => {
      await stopAcme();
      await exited;
      server.closeAll();
      await posted.close();
      await manager.killAll().catch(() => {});
      await manager.close();
      world.remove();
    },
  };
}
