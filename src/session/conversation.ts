/** What a session has to show of what was said: the last answer, the whole transcript, its errors. */

const MAX_ERR = 64 * 1024;

export class Conversation {
  /** The last turn's answer. */
  lastAnswer = '';
  transcript = '';
  err = '';

  /** A turn's answer; a correction (the record caught up and differs) takes the place of the turn it corrects. */
  answer(answer: string, transcript: string, replaces?: string): void {
    this.lastAnswer = answer;
    const at = replaces === undefined ? -1 : this.transcript.lastIndexOf(replaces);
    this.transcript = at < 0 ? this.transcript + transcript : this.transcript.slice(0, at) + transcript + this.transcript.slice(at + replaces!.length);
  }

  /** Appends to err, keeping the newest 64 KiB. */
  addError(text: string): void {
    this.err += text.endsWith('\n') ? text : `${text}\n`;
    if (this.err.length > MAX_ERR) this.err = this.err.slice(-MAX_ERR);
  }
}
