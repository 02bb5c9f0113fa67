/**
 * Reading an accepted socket into one buffer of ours. Through its stream, each read of a socket
 * allocates a buffer and passes the Readable machinery on its way to 'data': 40% of the
 * instructions a small 9P round costs a Node server (counted with callgrind, bench/instructions.ts).
 * net.Socket's `onread` option reads into a buffer given once and calls back with the byte count,
 * skipping both; Node offers it only to sockets made with it, so the accepted socket's handle
 * goes to a new Socket made with `onread` (its `handle` option: how Node's own server makes the
 * sockets it accepts). Where that cannot be done, the accepted socket's own 'data' serves.
 */
import { Buffer } from 'node:buffer';
import net from 'node:net';

/**
 * Gets each chunk read. A `borrowed` chunk lies in the buffer the next read fills: anything kept
 * past the call must be copied out of it.
 */
export type ChunkSink = (chunk: Buffer, borrowed: boolean) => void;

/** The handle of a socket accepted paused (`pauseOnConnect`), not yet read from. */
function handleOf(socket: net.Socket): object | null {
  const handle: unknown = (socket as unknown as { _handle?: unknown })._handle;
  return typeof handle === 'object' && handle !== null ? handle : null;
}

/**
 * Starts reading `accepted` (accepted paused) into a buffer of `size` bytes, handing each chunk
 * to `sink`; returns the socket to write to and watch from now on. Its 'close' ends `accepted`
 * too, so that the server's count of connections (net.Server#close waits on it) stays true.
 */
export function readIntoOwnBuffer(accepted: net.Socket, size: number, sink: ChunkSink): net.Socket {
  const handle = handleOf(accepted);
  if (handle !== null) {
    const buffer = Buffer.allocUnsafe(size);
    try {
      const socket = new net.Socket({
        handle,
        onread: {
          buffer,
          callback: (n: number) => {
            sink(buffer.subarray(0, n), true);
            return true; // keep reading: the connection pauses the socket itself when its replies back up
          },
        },
        readable: true,
        writable: true,
      } as net.SocketConstructorOpts);
      // The handle is closed by now: destroying the accepted socket only settles the server's count.
      socket.once('close', () => accepted.destroy());
      return socket;
    } catch {
      // a Node whose Socket takes no handle: the stream's own reads below
    }
  }
  accepted.on('data', (chunk: Buffer) => sink(chunk, false));
  accepted.resume();
  return accepted;
}
