/**
 * The server half of the 9P benchmark, run as a process of its own so that the load generator
 * (bench/run.ts) never shares its event loop:
 *
 *   node dist/bench/server.js /path/to/socket
 *
 * Serves a ramfs holding `small` (13 bytes) and `big` (1 MiB) on the unix socket, prints `ready`
 * on stdout, and exits on SIGTERM, SIGINT or when stdin closes (the bench died). It exits through
 * process.exit so that `node --cpu-prof` writes its profile.
 */
import fs from 'node:fs';

import { OWRITE } from '../src/ninep/constants.js';
import { Server } from '../src/ninep/server.js';
import type { FileNode } from '../src/ninep/tree.js';
import { createRamfs } from '../examples/ramfs.js';
import { BIG_FILE, BIG_SIZE, SMALL_CONTENTS, SMALL_FILE, bigContents, stopWhenTold } from './ninep.js';

async function addFile(root: ReturnType<typeof createRamfs>, name: string, data: Buffer): Promise<void> {
  const node = (await root.create(name, 0o644)) as FileNode;
  const f = await node.open(OWRITE);
  await f.write!(data, 0);
  await f.close?.('clunk');
}

async function main(): Promise<void> {
  const socketPath = process.argv[2];
  if (!socketPath) throw new Error('usage: node dist/bench/server.js SOCKET-PATH');
  const root = createRamfs();
  await addFile(root, SMALL_FILE, Buffer.from(SMALL_CONTENTS));
  await addFile(root, BIG_FILE, bigContents());
  if (root.lookup(BIG_FILE)?.stat().length !== BIG_SIZE) throw new Error('big file has the wrong size');

  fs.rmSync(socketPath, { force: true });
  const server = new Server(root, { log: (line) => console.error(`bench server: ${line}`) });
  const listener = await server.listen(`unix!${socketPath}`);

  const stop = () => {
    server.closeAll();
    listener.close();
    fs.rmSync(socketPath, { force: true });
    process.exit(0);
  };
  stopWhenTold(stop);
  process.stdout.write('ready\n');
}

main().catch((e: unknown) => {
  console.error(`bench server: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
