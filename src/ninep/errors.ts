/**
 * Rerror texts the server itself sends. 9pfuse turns an error into an errno by the first
 * substring it finds (src/cmd/9pfuse/errstr.c): "permission" → EACCES, "exists" → EEXIST,
 * "exist" / "not found" → ENOENT, "is a directory" → EISDIR, "directory" → ENOTDIR,
 * " fid " → EBADF, "in use" → EBUSY, "illegal" / "argument" → EINVAL, anything else → ERANGE.
 * So each text below contains the substring for the errno it means, and none earlier in that list.
 */
/**
 * A client's file name inside an error: plan9port's clients show only 127 bytes of a Rerror
 * (ERRMAX), so a long name loses its middle and the words after it (which 9pfuse maps to an
 * errno) stay.
 */
function shown(name: string): string {
  const chars = Array.from(name);
  return Buffer.byteLength(name) <= 48 ? name : `${chars.slice(0, 12).join('')}…${chars.slice(-12).join('')}`;
}

export const Errors = {
  noAuth: 'authentication not required: attach with afid NOFID',
  notVersioned: 'protocol botch: send Tversion first',
  msizeTooSmall: (msize: number) => `msize ${msize} too small: illegal argument`,
  unknownFid: (fid: number) => `unknown fid ${fid} : walk or attach to it first`,
  fidInUse: (fid: number) => `fid ${fid} is in use: clunk it or pick another`,
  tooManyFids: (max: number) => `too many fids in use (${max}): clunk some`,
  tagInUse: (tag: number) => `tag ${tag} is in use by a pending request`,
  tooManyRequests: (max: number) => `too many outstanding requests (${max}): device busy`,
  notFound: (name: string) => `'${shown(name)}' file does not exist`,
  notDir: (name: string) => `'${shown(name)}' is not a directory`,
  isDir: (name: string) => `'${shown(name)}' is a directory: it can only be opened for reading`,
  walkFromOpen: 'illegal walk from an open fid: clone it before opening',
  alreadyOpen: 'illegal open of a fid that is already open',
  notOpen: (what: string) => `illegal ${what} of a fid that is not open`,
  notOpenFor: (name: string, what: 'reading' | 'writing') => `bad file: '${shown(name)}' is not open for ${what}`,
  permission: (name: string, what: string) => `permission denied: '${shown(name)}' ${what}`,
  exists: (name: string) => `'${shown(name)}' already exists`,
  badName: (name: string) => `illegal file name '${shown(name)}'`,
  nameTooLong: (max: number) => `file name too long: at most ${max} bytes`,
  replyTooLarge: (type: string, size: number, msize: number) => `${type} of ${size} bytes is too long for msize ${msize}`,
  dirOffset: 'illegal offset in a read of a dir: read on from the end of the last read, or from 0',
  dirCountTooSmall: (count: number) => `read count ${count} too small for one dir entry: illegal argument`,
  offsetTooLarge: 'illegal offset: beyond 2^53',
  removeRoot: 'permission denied: the root cannot be removed',
  wstatUnsupported: (name: string, what: string) => `permission denied: '${shown(name)}' cannot change ${what}`,
  interrupted: 'interrupted: the file was closed',
  internal: (detail: string) => `input/output error in the server: ${detail}`,
} as const;
