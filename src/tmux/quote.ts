/**
 * Quoting for tmux's command language, as control mode reads it: one command per line, so every
 * argument is a double-quoted string with tmux's escapes. Nothing in it is expanded: `$` is
 * escaped, and newlines and control characters become escapes. A few arguments (new-window -c)
 * are also expanded as formats by tmux itself; `formatLiteral` makes those literal.
 */
export function quoteArg(arg: string): string {
  let out = '"';
  for (const ch of arg) {
    const code = ch.codePointAt(0)!;
    if (ch === '\\' || ch === '"' || ch === '$') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\${code.toString(8).padStart(3, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** A command line of words, each quoted. */
export function commandLine(words: string[]): string {
  return words.map((w, i) => (i === 0 ? w : quoteArg(w))).join(' ');
}

/** Doubles `#` so that tmux's format expansion gives the text back unchanged. */
export function formatLiteral(text: string): string {
  return text.replaceAll('#', '##');
}

/** Control mode escapes bytes below 32 and the backslash in %output as \ooo. */
export function unescapeOutput(escaped: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < escaped.length; i++) {
    const c = escaped.charCodeAt(i);
    if (c === 0x5c && i + 3 < escaped.length + 0 && /^[0-7]{3}$/.test(escaped.slice(i + 1, i + 4))) {
      bytes.push(parseInt(escaped.slice(i + 1, i + 4), 8));
      i += 3;
    } else {
      bytes.push(c & 0xff);
    }
  }
  return Buffer.from(bytes);
}
