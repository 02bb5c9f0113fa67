/**
 * Plan 9's way with words (tokenize(2), quote(2)): spaces separate words; a word in single quotes
 * may hold spaces; inside quotes, '' is one quote.
 */
export function tokenize(line: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i]!)) i++;
    if (i >= line.length) break;
    let word = '';
    while (i < line.length && !/\s/.test(line[i]!)) {
      if (line[i] === "'") {
        i++;
        for (;;) {
          if (i >= line.length) throw new Error(`unbalanced quote in: ${line}`);
          if (line[i] === "'") {
            if (line[i + 1] === "'") {
              word += "'";
              i += 2;
              continue;
            }
            i++;
            break;
          }
          word += line[i++];
        }
      } else {
        word += line[i++];
      }
    }
    words.push(word);
  }
  return words;
}

/** A word as tokenize reads it back: quoted only when it must be. */
export function quoteWord(word: string): string {
  return word !== '' && !/[\s'"`$\\;&|<>(){}[\]#*?=^~]/.test(word) ? word : `'${word.replaceAll("'", "''")}'`;
}

export function quoteWords(words: string[]): string {
  return words.map(quoteWord).join(' ');
}

/** One field of a line-oriented file (list, events): tabs, newlines and backslashes escaped. */
export function lineField(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n');
}

/** Undoes lineField's escapes. */
export function unLineField(field: string): string {
  return field.replace(/\\(.)/g, (_m, c: string) => (c === 't' ? '\t' : c === 'n' ? '\n' : c));
}
