/**
 * A turn's answer, cut out of what the agent showed: the text it printed since the prompt
 * (programs that print lines), or its pane when the turn ended (full-screen programs, which
 * redraw). Pure: the backend's definition says what to strip.
 */
import type { BackendDefinition } from '../backends/definition.js';
import { plainText } from './terminal-text.js';

type Rules = Pick<BackendDefinition, 'response' | 'state'>;

/** The text that appeared after the prompt: escapes stripped, the prompt's echo and the program's chrome removed. */
export function answerFromOutput(prompt: string, printed: string, def: Rules): string {
  let text = plainText(printed);
  const echo = text.indexOf(prompt);
  if (echo >= 0) text = text.slice(echo + prompt.length);
  const strip = [...def.response.strip, ...(def.state.ready ? [def.state.ready] : [])];
  return cleanLines(text.split('\n'), strip, def.response.remove);
}

/**
 * The answer on a full-screen agent's pane: the lines after the prompt's echo (its lines, the
 * first behind a marker such as "› " or "> ") and before the input box (the last line matching
 * state.ready).
 */
export function answerOnScreen(prompt: string, screen: string, def: Rules): string {
  const lines = screen.split('\n').map((l) => l.replace(/\s+$/, ''));
  const ready = def.state.ready;
  let end = lines.length;
  if (ready) while (end > 0 && !ready.test(lines[end - 1]!)) end--;
  if (end === 0) end = lines.length;
  else end--;
  const want = prompt.trim().split('\n').map((l) => l.trim());
  const first = new RegExp(`^[^\\p{L}\\p{N}]*${want[0]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'u');
  const echoAt = (i: number, whole: boolean) => first.test(lines[i]!.trim()) && (!whole || want.every((w, k) => k === 0 || lines[i + k]?.trim() === w));
  let start = end - 1;
  while (start >= 0 && !echoAt(start, true)) start--;
  // Lines the program wrapped itself do not compare: the first line alone, then.
  if (start < 0) for (start = end - 1; start >= 0 && !echoAt(start, false); ) start--;
  return cleanLines(lines.slice(start < 0 ? 0 : start + want.length, end), def.response.strip, def.response.remove);
}

/** Lines compare as on the screen, without trailing spaces (tmux drops them there). */
function cleanLines(lines: string[], strip: RegExp[], remove: RegExp[]): string {
  return lines
    .map((line) => line.replace(/\s+$/, ''))
    .filter((line) => !strip.some((re) => re.test(line)))
    .map((line) => remove.reduce((l, re) => l.replace(re, ''), line))
    .join('\n')
    .replace(/^\s*\n/, '')
    .replace(/\s+$/, '');
}
