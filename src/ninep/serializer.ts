import { BufferWriter, QID_SIZE, statSize, stringSize } from './buffer-writer.js';
import { MAXWELEM, messageTypeOf } from './constants.js';
import type { Message, Stat } from './messages.js';

const HEADER = 4 + 1 + 2; // size[4] type[1] tag[2]

function tooLongWalk(type: string): RangeError {
  return new RangeError(`${type} with more than ${MAXWELEM} elements: split the walk`);
}

/** Bytes of the message body after size[4] type[1] tag[2]; throws if it cannot be encoded. */
function bodySize(m: Message): number {
  // A switch on strings tests its cases in order: those of the common round trips come first.
  switch (m.type) {
    case 'Rwalk':
      if (m.qids.length > MAXWELEM) throw tooLongWalk(m.type);
      return 2 + QID_SIZE * m.qids.length;
    case 'Ropen':
    case 'Rcreate':
      return QID_SIZE + 4;
    case 'Rread':
      return 4 + m.data.length;
    case 'Rflush':
    case 'Rclunk':
    case 'Rremove':
    case 'Rwstat':
      return 0;
    case 'Rwrite':
      return 4;
    case 'Rerror':
      return stringSize(m.ename);
    case 'Rstat':
      return 2 + statSize(m.stat);
    case 'Twalk': {
      if (m.wnames.length > MAXWELEM) throw tooLongWalk(m.type);
      let n = 4 + 4 + 2;
      for (const w of m.wnames) n += stringSize(w);
      return n;
    }
    case 'Topen':
      return 5;
    case 'Tread':
      return 4 + 8 + 4;
    case 'Tclunk':
    case 'Tremove':
    case 'Tstat':
      return 4;
    case 'Twrite':
      return 4 + 8 + 4 + m.data.length;
    case 'Tversion':
    case 'Rversion':
      return 4 + stringSize(m.version);
    case 'Tauth':
      return 4 + stringSize(m.uname) + stringSize(m.aname);
    case 'Rauth':
      return QID_SIZE;
    case 'Tattach':
      return 8 + stringSize(m.uname) + stringSize(m.aname);
    case 'Rattach':
      return QID_SIZE;
    case 'Tflush':
      return 2;
    case 'Tcreate':
      return 4 + stringSize(m.name) + 4 + 1;
    case 'Twstat':
      return 4 + 2 + statSize(m.stat);
  }
}

/** The wire form of a message, size[4] included. Throws only on values that cannot be encoded. */
export function encode(m: Message): Buffer {
  const size = HEADER + bodySize(m);
  const w = new BufferWriter(size);
  w.u32(size).u8(messageTypeOf.get(m.type)!).u16(m.tag);
  switch (m.type) { // in bodySize's order
    case 'Rwalk':
      w.u16(m.qids.length);
      for (const q of m.qids) w.qid(q);
      break;
    case 'Ropen':
    case 'Rcreate':
      w.qid(m.qid).u32(m.iounit);
      break;
    case 'Rread':
      w.u32(m.data.length).bytes(m.data);
      break;
    case 'Rflush':
    case 'Rclunk':
    case 'Rremove':
    case 'Rwstat':
      break;
    case 'Rwrite':
      w.u32(m.count);
      break;
    case 'Rerror':
      w.string(m.ename);
      break;
    case 'Rstat':
      w.u16(statSize(m.stat)).stat(m.stat);
      break;
    case 'Twalk':
      w.u32(m.fid).u32(m.newfid).u16(m.wnames.length);
      for (const name of m.wnames) w.string(name);
      break;
    case 'Topen':
      w.u32(m.fid).u8(m.mode);
      break;
    case 'Tread':
      w.u32(m.fid).u64(m.offset).u32(m.count);
      break;
    case 'Tclunk':
    case 'Tremove':
    case 'Tstat':
      w.u32(m.fid);
      break;
    case 'Twrite':
      w.u32(m.fid).u64(m.offset).u32(m.data.length).bytes(m.data);
      break;
    case 'Tversion':
    case 'Rversion':
      w.u32(m.msize).string(m.version);
      break;
    case 'Tauth':
      w.u32(m.afid).string(m.uname).string(m.aname);
      break;
    case 'Rauth':
      w.qid(m.aqid);
      break;
    case 'Tattach':
      w.u32(m.fid).u32(m.afid).string(m.uname).string(m.aname);
      break;
    case 'Rattach':
      w.qid(m.qid);
      break;
    case 'Tflush':
      w.u16(m.oldtag);
      break;
    case 'Tcreate':
      w.u32(m.fid).string(m.name).u32(m.perm).u8(m.mode);
      break;
    case 'Twstat':
      w.u32(m.fid).u16(statSize(m.stat)).stat(m.stat);
      break;
  }
  return w.buf;
}

/** One stat entry as it appears in a directory read. */
export function encodeStat(st: Stat): Buffer {
  const w = new BufferWriter(statSize(st));
  w.stat(st);
  return w.buf;
}
