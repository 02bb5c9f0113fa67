/**
 * Files in places the sandboxed agent can write (its state directory, ~/.claude): the daemon
 * reads them as hints and writes its own there, so a planted symlink, FIFO or directory must
 * neither lead it elsewhere, block it, nor crash it.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';

/** An fd on `file` if it is a regular file (not a link, FIFO or directory), else null. */
export function openRegular(file: string): { fd: number; size: number } | null {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch {
    return null;
  }
  const st = fs.fstatSync(fd);
  if (st.isFile()) return { fd, size: st.size };
  fs.closeSync(fd);
  return null;
}

/** The text of a regular file of at most `max` bytes, else null. */
export function readRegular(file: string, max: number): string | null {
  const f = openRegular(file);
  if (!f) return null;
  try {
    return f.size > max ? null : fs.readFileSync(f.fd, 'utf8');
  } catch {
    return null;
  } finally {
    fs.closeSync(f.fd);
  }
}

/** Writes `file` whole by a rename: whatever stood at its name (a planted link) is replaced, not followed. */
export function writeOwnFile(file: string, data: string, mode: number): void {
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}`;
  fs.writeFileSync(tmp, data, { mode, flag: 'wx' });
  fs.renameSync(tmp, file);
}
