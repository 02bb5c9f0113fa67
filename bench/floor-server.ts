/**
 * The floor of the 9P benchmark: a Node server on the same socket that does no 9P work at all.
 * It answers each request of the small round with bytes encoded once (its tag patched in), and
 * reads and writes its socket as our server does, so what it costs per round is what Node's
 * event loop, the socket and the kernel cost that way: the least our server could cost. Started
 * like bench/server.ts: `node floor-server.js SOCKET`.
 */
import fs from 'node:fs';
import net from 'node:net';

import { IOHDRSZ, VERSION_9P2000 } from '../src/ninep/constants.js';
import type { Qid, RMessage } from '../src/ninep/messages.js';
import { readIntoOwnBuffer } from '../src/ninep/own-buffer.js';
import { encode } from '../src/ninep/serializer.js';
import { MSIZE, SMALL_CONTENTS, stopWhenTold } from './ninep.js';

const qid: Qid = { type: 0, version: 0, path: 1n };
const replies: RMessage[] = [
  { type: 'Rversion', tag: 0, msize: MSIZE, version: VERSION_9P2000 },
  { type: 'Rattach', tag: 0, qid },
  { type: 'Rwalk', tag: 0, qids: [qid] },
  { type: 'Ropen', tag: 0, qid, iounit: MSIZE - IOHDRSZ },
  { type: 'Rread', tag: 0, data: Buffer.from(SMALL_CONTENTS) },
  { type: 'Rclunk', tag: 0 },
];
/** The reply to a T-message type is the R type one above it. */
const byRequestType = new Map(replies.map((r) => {
  const b = encode(r);
  return [b[4]! - 1, b];
}));

function serve(accepted: net.Socket): void {
  let pending: Buffer = Buffer.alloc(0);
  // Read as our server reads (src/ninep/own-buffer.ts): into one buffer, without the stream's 'data'.
  const socket = readIntoOwnBuffer(accepted, MSIZE, (chunk, borrowed) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 7 && pending.length >= pending.readUInt32LE(0)) {
      const reply = byRequestType.get(pending[4]!);
      if (!reply) return void socket.destroy();
      const out = Buffer.from(reply);
      out.writeUInt16LE(pending.readUInt16LE(5), 5);
      socket.write(out);
      pending = pending.subarray(pending.readUInt32LE(0));
    }
    if (borrowed && pending.length > 0) pending = Buffer.from(pending);
  });
  socket.on('error', () => socket.destroy());
}

const socketPath = process.argv[2];
if (!socketPath) throw new Error('usage: node dist/bench/floor-server.js SOCKET-PATH');
fs.rmSync(socketPath, { force: true });
const listener = net.createServer({ pauseOnConnect: true }, serve).listen(socketPath, () => process.stdout.write('ready\n'));
const stop = () => {
  listener.close();
  fs.rmSync(socketPath, { force: true });
  process.exit(0);
};
stopWhenTold(stop);
