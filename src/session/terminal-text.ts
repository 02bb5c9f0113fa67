/** Terminal output to plain text: escape sequences removed, carriage returns applied per line. */

// CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), other two-byte escapes, and 8-bit CSI.
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[PX^_][^\x1b]*\x1b\\|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]/g;

export function stripAnsi(text: string): string {
  return text.replace(ESCAPES, '');
}

/** What a reader would see of this output: each line as it ends after carriage returns overwrite it. */
export function plainText(output: string): string {
  return stripAnsi(output)
    .replace(/\r\n/g, '\n')
    .split('\n')
    .map((line) => {
      // A carriage return before the end of a line ("\r\r\n" from a tty) overwrites nothing.
      const parts = line.replace(/\r+$/, '').split('\r');
      return parts[parts.length - 1]!.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '');
    })
    .join('\n');
}
