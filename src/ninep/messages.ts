/**
 * The 9P2000 messages as plain objects. 64-bit fields (qid paths, offsets, lengths) are bigints so
 * that every value on the wire survives a round trip, including the all-ones "don't touch" of wstat.
 */

export interface Qid {
  /** QTDIR, QTAPPEND, ... */
  type: number;
  version: number;
  path: bigint;
}

/** A directory entry as stat(5) defines it. */
export interface Stat {
  type: number;
  dev: number;
  qid: Qid;
  mode: number;
  atime: number;
  mtime: number;
  length: bigint;
  name: string;
  uid: string;
  gid: string;
  muid: string;
}

export interface Tversion { type: 'Tversion'; tag: number; msize: number; version: string }
export interface Rversion { type: 'Rversion'; tag: number; msize: number; version: string }
export interface Tauth { type: 'Tauth'; tag: number; afid: number; uname: string; aname: string }
export interface Rauth { type: 'Rauth'; tag: number; aqid: Qid }
export interface Tattach { type: 'Tattach'; tag: number; fid: number; afid: number; uname: string; aname: string }
export interface Rattach { type: 'Rattach'; tag: number; qid: Qid }
export interface Rerror { type: 'Rerror'; tag: number; ename: string }
export interface Tflush { type: 'Tflush'; tag: number; oldtag: number }
export interface Rflush { type: 'Rflush'; tag: number }
export interface Twalk { type: 'Twalk'; tag: number; fid: number; newfid: number; wnames: string[] }
export interface Rwalk { type: 'Rwalk'; tag: number; qids: Qid[] }
export interface Topen { type: 'Topen'; tag: number; fid: number; mode: number }
export interface Ropen { type: 'Ropen'; tag: number; qid: Qid; iounit: number }
export interface Tcreate { type: 'Tcreate'; tag: number; fid: number; name: string; perm: number; mode: number }
export interface Rcreate { type: 'Rcreate'; tag: number; qid: Qid; iounit: number }
export interface Tread { type: 'Tread'; tag: number; fid: number; offset: bigint; count: number }
export interface Rread { type: 'Rread'; tag: number; data: Uint8Array }
export interface Twrite { type: 'Twrite'; tag: number; fid: number; offset: bigint; data: Uint8Array }
export interface Rwrite { type: 'Rwrite'; tag: number; count: number }
export interface Tclunk { type: 'Tclunk'; tag: number; fid: number }
export interface Rclunk { type: 'Rclunk'; tag: number }
export interface Tremove { type: 'Tremove'; tag: number; fid: number }
export interface Rremove { type: 'Rremove'; tag: number }
export interface Tstat { type: 'Tstat'; tag: number; fid: number }
export interface Rstat { type: 'Rstat'; tag: number; stat: Stat }
export interface Twstat { type: 'Twstat'; tag: number; fid: number; stat: Stat }
export interface Rwstat { type: 'Rwstat'; tag: number }

export type TMessage =
  | Tversion | Tauth | Tattach | Tflush | Twalk | Topen | Tcreate
  | Tread | Twrite | Tclunk | Tremove | Tstat | Twstat;

export type RMessage =
  | Rversion | Rauth | Rattach | Rerror | Rflush | Rwalk | Ropen | Rcreate
  | Rread | Rwrite | Rclunk | Rremove | Rstat | Rwstat;

export type Message = TMessage | RMessage;

/** The reply type a server may answer a T-message with (besides Rerror). */
export type ReplyTo<T extends TMessage> = Extract<RMessage, { type: `R${T['type'] extends `T${infer N}` ? N : never}` }>;

/** The all-ones values a Twstat uses for "don't touch" (stat(5)). */
export const DONT_TOUCH = {
  u16: 0xffff,
  u32: 0xffffffff,
  u64: 0xffffffffffffffffn,
  qid: { type: 0xff, version: 0xffffffff, path: 0xffffffffffffffffn } as Readonly<Qid>,
} as const;

/** A stat whose every field says "don't touch": the base of a Twstat that changes a few fields. */
export function unchangedStat(): Stat {
  return {
    type: DONT_TOUCH.u16,
    dev: DONT_TOUCH.u32,
    qid: { ...DONT_TOUCH.qid },
    mode: DONT_TOUCH.u32,
    atime: DONT_TOUCH.u32,
    mtime: DONT_TOUCH.u32,
    length: DONT_TOUCH.u64,
    name: '',
    uid: '',
    gid: '',
    muid: '',
  };
}
