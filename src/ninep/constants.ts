/** Numbers fixed by the 9P2000 manual (intro(5) and the per-message pages). */

export const VERSION_9P2000 = '9P2000';
export const NOTAG = 0xffff;
export const NOFID = 0xffffffff;
/** The most names one Twalk may carry (walk(5)). */
export const MAXWELEM = 16;
/** Bytes of a Tread/Twrite/Rread header: an I/O payload may use msize - IOHDRSZ. */
export const IOHDRSZ = 24;

/** qid.type bits. */
export const QTDIR = 0x80;
export const QTAPPEND = 0x40;
export const QTEXCL = 0x20;
export const QTAUTH = 0x08;
export const QTTMP = 0x04;
export const QTFILE = 0x00;

/** Mode bits in a stat entry; the top byte mirrors qid.type. */
export const DMDIR = 0x80000000;
export const DMAPPEND = 0x40000000;
export const DMEXCL = 0x20000000;
export const DMAUTH = 0x08000000;
export const DMTMP = 0x04000000;

/** Open modes (open(5)). */
export const OREAD = 0;
export const OWRITE = 1;
export const ORDWR = 2;
export const OEXEC = 3;
export const OTRUNC = 0x10;
export const ORCLOSE = 0x40;

/** Message type numbers, by name. */
export const MessageType = {
  Tversion: 100,
  Rversion: 101,
  Tauth: 102,
  Rauth: 103,
  Tattach: 104,
  Rattach: 105,
  Rerror: 107,
  Tflush: 108,
  Rflush: 109,
  Twalk: 110,
  Rwalk: 111,
  Topen: 112,
  Ropen: 113,
  Tcreate: 114,
  Rcreate: 115,
  Tread: 116,
  Rread: 117,
  Twrite: 118,
  Rwrite: 119,
  Tclunk: 120,
  Rclunk: 121,
  Tremove: 122,
  Rremove: 123,
  Tstat: 124,
  Rstat: 125,
  Twstat: 126,
  Rwstat: 127,
} as const;

export type MessageName = keyof typeof MessageType;

/** Message names by type number: an array, whose lookup by a number is cheaper than an object's. */
export const messageNameOf: Readonly<Record<number, MessageName | undefined>> = (() => {
  const names: MessageName[] = [];
  for (const [name, type] of Object.entries(MessageType)) names[type] = name as MessageName;
  return names;
})();
