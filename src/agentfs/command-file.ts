/**
 * A control file: each line written is a command, run at once (its error fails the write); what
 * the commands answer can be read back on the same open (`new` answers the new id), and so can a
 * refused command's whole explanation, of which the Rerror holds the first 127 bytes. A command
 * ends at a newline outside single quotes (a quoted word may hold one) and may come in several
 * writes. Input is scanned once as it arrives, and an unfinished command is capped: a client that
 * never closes its quote costs at most the cap, and its open then refuses every further write.
 */
import { StringDecoder } from 'node:string_decoder';

import type { FileNode, NodeStat, OpenFile, StatChange } from '../ninep/tree.js';
import { newQidPath } from '../ninep/tree.js';
import { explain } from '../protocol/protocol.js';
import { tokenize } from '../protocol/words.js';

/** Characters an unfinished command may hold: far above any real one (paths, an alias). */
export const MAX_COMMAND = 64 * 1024;

/** Splits what arrives into commands, looking at each character once. */
class CommandSplitter {
  private decoder = new StringDecoder('utf8');
  /** The unfinished command. */
  private rest = '';
  /** Characters of `rest` already scanned, and whether they leave a quote open. */
  private scanned = 0;
  private quoted = false;

  constructor(private readonly name: string) {}

  /** The commands `data` completes; throws (the caller drops this splitter) past the cap. */
  push(data: Buffer): string[] {
    this.rest += this.decoder.write(data);
    const commands: string[] = [];
    let start = 0;
    for (let i = this.scanned; i < this.rest.length; i++) {
      const ch = this.rest.charCodeAt(i);
      if (ch === 0x27) this.quoted = !this.quoted; // '
      else if (ch === 0x0a && !this.quoted) {
        commands.push(this.rest.slice(start, i));
        start = i + 1;
      }
    }
    this.rest = start === 0 ? this.rest : this.rest.slice(start);
    this.scanned = this.rest.length;
    if (this.rest.length > MAX_COMMAND) throw new Error(tooLong(this.name));
    return commands;
  }

  /** Inside a quote: the rest of the command is still coming. */
  get inQuotes(): boolean {
    return this.quoted;
  }

  /** The unfinished command, taken. */
  take(): string {
    const rest = this.rest + this.decoder.end();
    this.rest = '';
    this.scanned = 0;
    this.quoted = false;
    return rest;
  }
}

function tooLong(name: string): string {
  return `${name}: command too long (over ${MAX_COMMAND} characters; a quote left open?): open it again`;
}

export class CommandFile implements FileNode {
  readonly isDir = false;
  readonly qidPath = newQidPath();

  constructor(
    private readonly name: string,
    private readonly run: (words: string[]) => Promise<string | void>,
  ) {}

  stat(): NodeStat {
    return { name: this.name, mode: 0o666, length: 0 };
  }

  /** `echo cmd > ctl` through 9pfuse truncates first: a control file has nothing to truncate. */
  wstat(change: StatChange): void {
    if ((change.length !== undefined && change.length !== 0) || change.name !== undefined || change.mode !== undefined) {
      throw new Error(`permission denied: ${this.name} only takes commands`);
    }
  }

  open(): OpenFile {
    // Offsets are ignored both ways: `9p rdwr` writes at the offset it has read to, and a reader
    // gets the answers not yet read, then end of file.
    let unread = Buffer.alloc(0);
    let splitter: CommandSplitter | null = new CommandSplitter(this.name);
    const runAll = async (commands: string[]) => {
      for (const command of commands) {
        if (command.trim() === '') continue;
        const answer = await this.run(tokenize(command));
        if (answer) unread = Buffer.concat([unread, Buffer.from(`${answer}\n`)]);
      }
    };
    return {
      readsNeverWait: true,
      read: (_offset, count) => {
        const out = unread.subarray(0, count);
        unread = unread.subarray(out.length);
        return out;
      },
      write: async (data) => {
        // After an overflow the rest of the flood is not commands: refuse it all, fail closed.
        if (!splitter) throw new Error(tooLong(this.name));
        let commands: string[];
        try {
          commands = splitter.push(data);
        } catch (e) {
          splitter = null;
          throw e;
        }
        // Input without a newline is one whole command (`9p rdwr` sends lines without theirs),
        // unless it stops inside quotes: then the rest is coming.
        if (commands.length === 0 && !splitter.inQuotes) commands.push(splitter.take());
        // The Rerror holds 127 bytes of a refusal; its whole explanation is read back on this open.
        await runAll(commands).catch((e: unknown) => {
          const { rerror, detail } = explain(e);
          if (detail !== rerror) unread = Buffer.from(`${detail}\n`);
          throw e;
        });
      },
      close: async (reason) => {
        if (reason === 'clunk' && splitter) await runAll([splitter.take()]).catch(() => {});
      },
    };
  }
}
