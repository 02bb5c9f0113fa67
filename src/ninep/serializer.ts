import { BufferWriter, QID_SIZE, statSize, stringSize } from './buffer-writer.js';
import { MAXWELEM, MessageType } from './constants.js';
import type { Message, Stat } from './messages.js';

const HEADER = 4 + 1 + 2; // size[4] type[1] tag[2]

function tooLongWalk(type: string): RangeError {
  return new RangeError(`${type} with more than ${MAXWELEM} elements: split the walk`);
}

/** encode never runs inside itself: one writer serves every message (no object made per message). */
const WRITER = new BufferWriter(0);

/** The writer for a message of `body` bytes after its header, the header written. */
function start(body: number, type: number, tag: number): BufferWriter {
  const size = HEADER + body;
  return WRITER.reset(size).u32(size).u8(type).u16(tag);
}

/**
 * The wire form of a message, size[4] included. Throws only on values that cannot be encoded.
 * One switch sizes and writes each type: a field read in a case sees one shape of message, which
 * V8 reads fast, where a read shared by all types sees many and is slow. The cases of the common
 * round trips come first: a switch on strings tests them in order.
 */
export function encode(m: Message): Buffer {
  switch (m.type) {
    case 'Rwalk': {
      if (m.qids.length > MAXWELEM) throw tooLongWalk(m.type);
      const w = start(2 + QID_SIZE * m.qids.length, MessageType.Rwalk, m.tag).u16(m.qids.length);
      for (const q of m.qids) w.qid(q);
      return w.buf;
    }
    case 'Ropen':
    case 'Rcreate':
      return start(QID_SIZE + 4, MessageType[m.type], m.tag).qid(m.qid).u32(m.iounit).buf;
    case 'Rread':
      return start(4 + m.data.length, MessageType.Rread, m.tag).u32(m.data.length).bytes(m.data).buf;
    case 'Rclunk':
    case 'Rflush':
    case 'Rremove':
    case 'Rwstat':
      return start(0, MessageType[m.type], m.tag).buf;
    case 'Rwrite':
      return start(4, MessageType.Rwrite, m.tag).u32(m.count).buf;
    case 'Rerror':
      return start(stringSize(m.ename), MessageType.Rerror, m.tag).string(m.ename).buf;
    case 'Rstat':
      return start(2 + statSize(m.stat), MessageType.Rstat, m.tag).u16(statSize(m.stat)).stat(m.stat).buf;
    case 'Twalk': {
      if (m.wnames.length > MAXWELEM) throw tooLongWalk(m.type);
      let n = 4 + 4 + 2;
      for (const name of m.wnames) n += stringSize(name);
      const w = start(n, MessageType.Twalk, m.tag).u32(m.fid).u32(m.newfid).u16(m.wnames.length);
      for (const name of m.wnames) w.string(name);
      return w.buf;
    }
    case 'Topen':
      return start(5, MessageType.Topen, m.tag).u32(m.fid).u8(m.mode).buf;
    case 'Tread':
      return start(4 + 8 + 4, MessageType.Tread, m.tag).u32(m.fid).u64(m.offset).u32(m.count).buf;
    case 'Tclunk':
    case 'Tremove':
    case 'Tstat':
      return start(4, MessageType[m.type], m.tag).u32(m.fid).buf;
    case 'Twrite':
      return start(4 + 8 + 4 + m.data.length, MessageType.Twrite, m.tag).u32(m.fid).u64(m.offset).u32(m.data.length).bytes(m.data).buf;
    case 'Tversion':
    case 'Rversion':
      return start(4 + stringSize(m.version), MessageType[m.type], m.tag).u32(m.msize).string(m.version).buf;
    case 'Tauth':
      return start(4 + stringSize(m.uname) + stringSize(m.aname), MessageType.Tauth, m.tag).u32(m.afid).string(m.uname).string(m.aname).buf;
    case 'Rauth':
      return start(QID_SIZE, MessageType.Rauth, m.tag).qid(m.aqid).buf;
    case 'Tattach':
      return start(8 + stringSize(m.uname) + stringSize(m.aname), MessageType.Tattach, m.tag)
        .u32(m.fid)
        .u32(m.afid)
        .string(m.uname)
        .string(m.aname).buf;
    case 'Rattach':
      return start(QID_SIZE, MessageType.Rattach, m.tag).qid(m.qid).buf;
    case 'Tflush':
      return start(2, MessageType.Tflush, m.tag).u16(m.oldtag).buf;
    case 'Tcreate':
      return start(4 + stringSize(m.name) + 4 + 1, MessageType.Tcreate, m.tag).u32(m.fid).string(m.name).u32(m.perm).u8(m.mode).buf;
    case 'Twstat':
      return start(4 + 2 + statSize(m.stat), MessageType.Twstat, m.tag).u32(m.fid).u16(statSize(m.stat)).stat(m.stat).buf;
  }
}

/** One stat entry as it appears in a directory read. */
export function encodeStat(st: Stat): Buffer {
  const w = new BufferWriter(statSize(st));
  w.stat(st);
  return w.buf;
}
