#!/usr/bin/env node
/**
 * anvillm-notify: a desktop notification (notify-send) each time a session goes running → idle.
 * It follows agent/events and never polls; when the daemon goes away it dials again until one
 * answers. Without notify-send it says so once and prints the notifications instead.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { AgentClient } from '../protocol/client.js';
import { processIO, type CommandIO } from './io.js';

export interface NotifyOptions {
  signal?: AbortSignal;
  /** How long to wait before dialling a daemon that did not answer. */
  retryMs?: number;
}

function firstLine(text: string, max = 100): string {
  const line = text.split('\n').find((l) => l.trim() !== '') ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });
}

export async function notify(io: CommandIO, options: NotifyOptions = {}): Promise<void> {
  const { signal } = options;
  let missingSaid = false;
  let waitingSaid = false;
  const send = (title: string, body: string) =>
    new Promise<void>((resolve) => {
      execFile('notify-send', [title, body], { env: io.env }, (e) => {
        if (e && (e as NodeJS.ErrnoException).code === 'ENOENT') {
          if (!missingSaid) io.stderr('anvillm-notify: notify-send not found (Debian: apt-get install libnotify-bin); printing notifications here');
          missingSaid = true;
          io.stdout(`${title}: ${body}`);
        } else if (e) {
          io.stderr(`anvillm-notify: notify-send: ${e.message}`);
        }
        resolve();
      });
    });

  while (!signal?.aborted) {
    let client: AgentClient;
    try {
      client = await AgentClient.dial(io.env);
    } catch {
      if (!waitingSaid) io.stderr('anvillm-notify: no daemon answers yet; waiting for one');
      waitingSaid = true;
      await sleep(options.retryMs ?? 2000, signal);
      continue;
    }
    waitingSaid = false;
    try {
      const events = await client.events();
      for await (const e of events.read(signal)) {
        if (e.kind !== 'state' || e.from !== 'running' || e.to !== 'idle') continue;
        const read = async (f: string) => (await client.read(e.id, f)).trim();
        try {
          const [cwd, alias, out] = await Promise.all([read('cwd'), read('alias'), read('out')]);
          await send(`${path.basename(cwd)} (${alias || e.id})`, firstLine(out));
        } catch (err) {
          io.stderr(`anvillm-notify: ${e.id}: ${(err as Error).message}`); // e.g. killed meanwhile
        }
      }
    } catch (e) {
      if (!signal?.aborted) io.stderr(`anvillm-notify: lost the daemon (${(e as Error).message}); dialling again`);
    } finally {
      client.close();
    }
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const usage = `usage: anvillm-notify

Follows agent/events and runs notify-send "<directory> (<alias or id>)" "<first line of out>"
each time a session goes running → idle. Runs until interrupted; dials again when the daemon
restarts. Without notify-send it says so once and prints the notifications instead.`;
  if (args.some((a) => a === '--help' || a === '-h')) {
    console.log(usage);
    process.exit(0);
  }
  if (args.length > 0) {
    console.error(usage);
    process.exit(2);
  }
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  process.once('SIGTERM', () => controller.abort());
  notify(processIO, { signal: controller.signal }).then(() => process.exit(0));
}
