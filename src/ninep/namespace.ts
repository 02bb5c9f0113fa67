/**
 * The plan9port name space (namespace(1)): a private directory where services post their
 * sockets, so `9p ls agent` finds $NAMESPACE/agent.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import type { Server } from './server.js';

type Env = NodeJS.ProcessEnv;

export function currentUser(env: Env = process.env): string {
  try {
    return os.userInfo().username;
  } catch {
    return env['USER'] ?? 'none';
  }
}

/** $NAMESPACE, else /tmp/ns.$USER.$DISPLAY with DISPLAY canonicalised as plan9port does. */
export function namespaceDir(env: Env = process.env): string {
  const ns = env['NAMESPACE'];
  if (ns) return ns;
  let display = env['DISPLAY'] || ':0';
  // plan9port: "xxx:0.0" → "xxx:0", and '/' (macOS launchd displays) → '_'.
  display = display.replace(/(:\d+)\.0$/, '$1').replaceAll('/', '_');
  return `/tmp/ns.${currentUser(env)}.${display}`;
}

/**
 * The name space directory, created 0700 if missing. One that another user owns, that others can
 * read or enter, or that is not a directory is refused: services there would be someone else's.
 */
export function ensureNamespace(env: Env = process.env): string {
  const dir = namespaceDir(env);
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`cannot create name space ${dir}: ${(e as Error).message}`);
  }
  const st = fs.lstatSync(dir);
  if (!st.isDirectory()) throw new Error(`name space ${dir} is not a directory: remove it or set $NAMESPACE`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new Error(`name space ${dir} belongs to uid ${st.uid}, not you (uid ${uid}): set $NAMESPACE to a directory of your own`);
  }
  if ((st.mode & 0o077) !== 0) {
    throw new Error(
      `name space ${dir} has mode ${(st.mode & 0o777).toString(8)}: others could reach its services; run chmod 700 ${dir}`,
    );
  }
  return dir;
}

/** A dial string: `unix!/path`, `tcp!host!port`, or a service name in the name space. */
export type Address = { path: string } | { host: string; port: number };

export function resolveAddress(address: string, env: Env = process.env): Address {
  const parts = address.split('!');
  if (parts[0] === 'unix' && parts.length === 2 && parts[1]) return { path: parts[1] };
  if ((parts[0] === 'tcp' || parts[0] === 'net') && parts.length === 3) {
    const port = Number(parts[2]);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad port in ${address}`);
    return { host: parts[1] === '*' ? '0.0.0.0' : parts[1]!, port };
  }
  if (parts.length === 1 && address !== '') {
    return { path: address.includes('/') ? address : path.join(namespaceDir(env), address) };
  }
  throw new Error(`bad address ${address}: use a service name, unix!/path or tcp!host!port`);
}

/** Something listens on the unix socket at `socketPath`. */
export function socketAnswers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface Posted {
  readonly path: string;
  readonly listener: net.Server;
  /** Stops listening and removes the socket (connections already open stay until they close). */
  close(): Promise<void>;
}

/**
 * Posts `server` as `name` in the name space: a unix socket of mode 0600. A socket left by a
 * server that died is replaced; one that still answers is refused.
 */
export async function post(name: string, server: Server, env: Env = process.env): Promise<Posted> {
  if (!/^[^/\0]+$/.test(name) || name === '.' || name === '..') throw new Error(`bad service name '${name}'`);
  const dir = ensureNamespace(env);
  const socketPath = path.join(dir, name);
  const existing = fs.lstatSync(socketPath, { throwIfNoEntry: false });
  if (existing) {
    if (!existing.isSocket()) throw new Error(`${socketPath} exists and is not a socket: remove it`);
    if (await socketAnswers(socketPath)) throw new Error(`${name} is already being served at ${socketPath}`);
    fs.unlinkSync(socketPath);
  }
  const listener = await server.listen(`unix!${socketPath}`);
  // The directory is 0700, so nobody else can reach the socket before this chmod.
  fs.chmodSync(socketPath, 0o600);
  const ino = fs.statSync(socketPath).ino;
  return {
    path: socketPath,
    listener,
    // Stops listening at once; net.Server's own callback would wait for every open connection.
    close: async () => {
      listener.close();
      // Remove the socket only if it is still ours, not a successor's.
      const now = fs.statSync(socketPath, { throwIfNoEntry: false });
      if (now?.ino === ino) fs.rmSync(socketPath, { force: true });
    },
  };
}
