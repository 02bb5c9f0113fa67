/**
 * Acme's event file (acme(4)): messages `<origin><type><q0> <q1> <flag> <nr> <text>\n`, where nr
 * counts runes (not bytes) and the text may itself hold newlines. A click sends two messages
 * (flag 2: the expansion follows) and a 2-1 chord two more (flag 8: the argument text, then its
 * address); `EventReader` joins them into one `Event`, as 9fans/go's acme.Win.ReadEvent does.
 */

/** One raw message of the event file. */
export interface RawEvent {
  /** E: a write to body or tag; F: other files; K: keyboard; M: mouse. */
  origin: string;
  /** D/d delete, I/i insert, L/l look (B3), X/x execute (B2); lower case: in the tag. R/r: shift-B3. */
  type: string;
  q0: number;
  q1: number;
  flag: number;
  /** Runes of text; 0 with empty text when the text had 256 runes or more. */
  nr: number;
  text: string;
}

/** A user action or change, with the expansion and chord argument already joined in. */
export interface Event extends RawEvent {
  /** The range as acme first sent it (the click point for a click): write these back. */
  origQ0: number;
  origQ1: number;
  /** The chorded argument (2-1 chord), or '' */
  arg: string;
  /** Where the argument came from, `file:#q0,#q1`, or '' when not from a named body. */
  loc: string;
}

/**
 * Parses the byte stream of an event file. Bytes may split anywhere, even inside a UTF-8
 * character; `push` returns the messages completed so far.
 */
export class EventParser {
  private buf = Buffer.alloc(0);

  push(chunk: Uint8Array): RawEvent[] {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const out: RawEvent[] = [];
    for (;;) {
      const parsed = parseOne(this.buf);
      if (parsed === null) break;
      out.push(parsed.event);
      this.buf = this.buf.subarray(parsed.length);
    }
    return out;
  }
}

/** Decimal digits then one space, from `at`: [value, next index], or null when incomplete. */
function number(buf: Buffer, at: number): [number, number] | null {
  let i = at;
  let v = 0;
  while (i < buf.length && buf[i]! >= 0x30 && buf[i]! <= 0x39) v = v * 10 + (buf[i++]! - 0x30);
  if (i >= buf.length) return null;
  if (buf[i] !== 0x20 || i === at) throw new Error(`acme: bad event message: ${JSON.stringify(buf.toString())}`);
  return [v, i + 1];
}

/** Bytes of the UTF-8 sequence a lead byte starts (a stray byte counts as one rune, as acme reads it). */
function seqLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xf0) return 4;
  if (lead >= 0xe0) return 3;
  if (lead >= 0xc0) return 2;
  return 1;
}

function parseOne(buf: Buffer): { event: RawEvent; length: number } | null {
  if (buf.length < 3) return null;
  let at = 2;
  const fields: number[] = [];
  for (let k = 0; k < 4; k++) {
    const r = number(buf, at);
    if (r === null) return null;
    fields.push(r[0]);
    at = r[1];
  }
  const [q0, q1, flag, nr] = fields as [number, number, number, number];
  // nr runes of text, then the message's own newline.
  let end = at;
  for (let n = 0; n < nr; n++) {
    if (end >= buf.length) return null;
    end += seqLength(buf[end]!);
  }
  if (end >= buf.length) return null;
  if (buf[end] !== 0x0a) throw new Error(`acme: event text is not ${nr} runes: ${JSON.stringify(buf.toString())}`);
  const event: RawEvent = {
    origin: String.fromCharCode(buf[0]!),
    type: String.fromCharCode(buf[1]!),
    q0,
    q1,
    flag,
    nr,
    text: buf.subarray(at, end).toString('utf8'),
  };
  return { event, length: end + 1 };
}

/** True for the types a program may write back for acme to act on (others fail "bad event syntax"). */
export function canWriteBack(e: Pick<RawEvent, 'type'>): boolean {
  // acme's event file takes back only these (xfid.c: anything else is "bad event syntax").
  return 'xXlL'.includes(e.type);
}

/** The message that asks acme to do its default action for `e`: its original range. */
export function writeBackMessage(e: Event): string {
  return `${e.origin}${e.type}${e.origQ0} ${e.origQ1} \n`;
}

/**
 * Joins raw messages into events: takes messages one by one from `next` (which resolves null at
 * the end of the stream) and returns the next whole event, or null.
 */
export async function readJoined(next: () => Promise<RawEvent | null>): Promise<Event | null> {
  const first = await next();
  if (first === null) return null;
  const e: Event = { ...first, origQ0: first.q0, origQ1: first.q1, arg: '', loc: '' };
  const expands = 'xXlLrR'.includes(e.type);
  if (expands && e.flag & 2) {
    const x = await next();
    if (x === null) return null;
    // A click (null range) becomes the word acme expanded it to; the flag keeps the first
    // message's bits (1 builtin / file, 8 chord), which the expansion's flag does not repeat.
    if (e.q0 === e.q1) {
      e.q0 = x.q0;
      e.q1 = x.q1;
      e.nr = x.nr;
      e.text = x.text;
    }
  }
  if (expands && e.flag & 8) {
    const arg = await next();
    const loc = await next();
    if (arg === null || loc === null) return null;
    e.arg = arg.text;
    e.loc = loc.text;
  }
  return e;
}
