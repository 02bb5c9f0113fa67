/**
 * ~/.config/anvillm/backends.yaml: backends users add, or built-ins they override field by field.
 *
 *   backends:
 *     myagent:
 *       base: claude              # start from another backend's definition; default: built-in or none
 *       driver: claude            # code beyond data (drivers.ts): hooks, transcript; default none
 *       label: Myagent
 *       command: [myagent, --yolo]
 *       install: "npm install -g myagent"
 *       env: {NO_COLOR: "1"}
 *       pass_env: [MYAGENT_API_KEY, "MYAGENT_*"]
 *       size: {cols: 120, rows: 40}
 *       startup: {timeout: 30s, dialogs: [{match: "Trust this folder\\?", keys: [Enter]}], ready: "^> "}
 *       state: {method: quiet, quiet_ms: 400, busy: "thinking", ready: "^> "}
 *       stop_keys: [Escape]
 *       submit: {keys: [Enter], delay_ms: 150}
 *       slash_commands: {allow: ["/help"]}
 *       save: {method: command, save: "/chat save {path}", load: "/chat load {path}"}
 *       response: {strip: ["^> .*$"], remove: ["^● "], source: output}
 */
import fs from 'node:fs';
import path from 'node:path';

import { ConfigError, YamlFile, type Entry } from '../config/yaml-file.js';
import { ENV_NAME, configHome } from '../sandbox/policy.js';
import { BUILTIN, capitalise, defaults, type BackendDefinition, type Dialog } from './definition.js';
import { DRIVERS } from './drivers.js';

type Env = NodeJS.ProcessEnv;

export class BackendConfigError extends ConfigError {
  override name = 'BackendConfigError';
}

export function backendsPath(env: Env = process.env): string {
  return path.join(configHome(env), 'anvillm', 'backends.yaml');
}

/** tmux session names are anvillm-<name>: no dots or colons, and nothing a shell would mind. */
const NAME = /^[a-z0-9][a-z0-9_-]*$/;
const LABEL = /^[A-Za-z][A-Za-z0-9_-]*$/;

function duration(y: YamlFile, e: Entry): number {
  const text = y.string(e).trim();
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m)?$/.exec(text);
  if (!m) return y.fail(e.value, e.field, `"${text}" is not a duration like 30s, 500ms or 2m`);
  const n = Number(m[1]) * (m[2] === 'm' ? 60_000 : m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 1);
  return Math.round(n);
}

function keys(y: YamlFile, e: Entry): string[] {
  const list = y.strings(e);
  list.forEach((k, i) => {
    if (k === '' || /\s/.test(k)) y.fail(e.value, `${e.field}[${i}]`, `"${k}" is not a tmux key name (e.g. Enter, Escape, C-c, 2)`);
  });
  return list;
}

/** Reads one top-level field of a backend's definition into `def`. */
type FieldReader = (y: YamlFile, e: Entry, def: BackendDefinition) => void;

function readLabel(y: YamlFile, e: Entry, def: BackendDefinition): void {
  def.label = y.string(e);
  if (!LABEL.test(def.label)) y.fail(e.value, e.field, `"${def.label}" must be one word (letters, digits, - and _): it is an Acme tag command`);
}

function readCommand(y: YamlFile, e: Entry, def: BackendDefinition): void {
  def.command = y.strings(e);
  if (def.command.length === 0 || def.command[0] === '') y.fail(e.value, e.field, 'needs at least the program');
}

function readEnv(y: YamlFile, e: Entry, def: BackendDefinition): void {
  def.env = y.stringMap(e);
  for (const k of Object.keys(def.env)) if (!ENV_NAME.test(k) || k.endsWith('*')) y.fail(e.value, `${e.field}.${k}`, 'is not a variable name');
}

function readPassEnv(y: YamlFile, e: Entry, def: BackendDefinition): void {
  def.passEnv = y.strings(e);
  def.passEnv.forEach((n, i) => {
    if (!ENV_NAME.test(n)) y.fail(e.value, `${e.field}[${i}]`, `"${n}" is not a variable name (or a prefix ending in *)`);
  });
}

function readSize(y: YamlFile, e: Entry, def: BackendDefinition): void {
  for (const s of y.entries(e.value, e.field, ['cols', 'rows'])) {
    if (s.key === 'cols') def.size.cols = y.integer(s, 20, 1000);
    else def.size.rows = y.integer(s, 5, 500);
  }
}

/** startup.dialogs: a list of {match, keys}, both required. */
function readDialogs(y: YamlFile, s: Entry): Dialog[] {
  if (s.value !== null && !('items' in s.value)) y.fail(s.value, s.field, 'must be a list of {match, keys}');
  const items = (s.value as { items?: unknown[] } | null)?.items ?? [];
  return items.map((item, i): Dialog => {
    const field = `${s.field}[${i}]`;
    const parts = y.entries(item as Entry['value'], field, ['match', 'keys']);
    const match = parts.find((p) => p.key === 'match');
    const ks = parts.find((p) => p.key === 'keys');
    if (!match || !ks) return y.fail(item as Entry['value'], field, 'needs both match and keys');
    return { match: y.regex(match), keys: keys(y, ks) };
  });
}

function readStartup(y: YamlFile, e: Entry, def: BackendDefinition): void {
  for (const s of y.entries(e.value, e.field, ['timeout', 'dialogs', 'ready'])) {
    if (s.key === 'timeout') def.startup.timeoutMs = duration(y, s);
    else if (s.key === 'ready') def.startup.ready = y.regex(s);
    else def.startup.dialogs = readDialogs(y, s);
  }
}

function readState(y: YamlFile, e: Entry, def: BackendDefinition): void {
  for (const s of y.entries(e.value, e.field, ['method', 'quiet_ms', 'busy', 'ready'])) {
    if (s.key === 'method') def.state.method = y.oneOf(s, ['quiet', 'hooks'] as const);
    else if (s.key === 'quiet_ms') def.state.quietMs = y.integer(s, 50, 60_000);
    else if (s.key === 'busy') def.state.busy = y.regex(s);
    else def.state.ready = y.regex(s);
  }
}

function readSubmit(y: YamlFile, e: Entry, def: BackendDefinition): void {
  for (const s of y.entries(e.value, e.field, ['keys', 'delay_ms'])) {
    if (s.key === 'keys') def.submit.keys = keys(y, s);
    else def.submit.delayMs = y.integer(s, 0, 10_000);
  }
}

function readSlashCommands(y: YamlFile, e: Entry, def: BackendDefinition): void {
  for (const s of y.entries(e.value, e.field, ['allow'])) {
    def.slashCommands = y.strings(s);
    def.slashCommands.forEach((c, i) => {
      if (!c.startsWith('/')) y.fail(s.value, `${s.field}[${i}]`, `"${c}" must start with /`);
    });
  }
}

/** save: method transcript (the default when the method is left out), or command with save and load. */
function readSave(y: YamlFile, e: Entry, def: BackendDefinition): void {
  const parts = y.entries(e.value, e.field, ['method', 'save', 'load']);
  const method = parts.find((p) => p.key === 'method');
  const kind = method ? y.oneOf(method, ['transcript', 'command'] as const) : 'transcript';
  if (kind === 'transcript') {
    def.save = { method: 'transcript' };
    return;
  }
  const save = parts.find((p) => p.key === 'save');
  const load = parts.find((p) => p.key === 'load');
  if (!save || !load) y.fail(e.value, e.field, 'method command needs save and load, each with {path}');
  def.save = { method: 'command', save: y.string(save), load: y.string(load) };
  for (const p of [save, load]) if (!y.string(p).includes('{path}')) y.fail(p.value, p.field, 'must contain {path}');
}

function readResponse(y: YamlFile, e: Entry, def: BackendDefinition): void {
  for (const s of y.entries(e.value, e.field, ['strip', 'remove', 'source'])) {
    if (s.key === 'source') def.response.source = y.oneOf(s, ['output', 'screen'] as const);
    else def.response[s.key as 'strip' | 'remove'] = y.list(s).map((item, i) => y.regex(s, item, `${s.field}[${i}]`));
  }
}

/** Every field but `base`, in the order the "unknown key" error lists them. */
const READERS: Record<string, FieldReader> = {
  driver: (y, e, def) => {
    def.driver = y.oneOf(e, Object.keys(DRIVERS));
  },
  label: readLabel,
  command: readCommand,
  install: (y, e, def) => {
    def.install = y.string(e);
  },
  env: readEnv,
  pass_env: readPassEnv,
  size: readSize,
  startup: readStartup,
  state: readState,
  stop_keys: (y, e, def) => {
    def.stopKeys = keys(y, e);
  },
  submit: readSubmit,
  slash_commands: readSlashCommands,
  save: readSave,
  response: readResponse,
};

/**
 * What the fields are read over: the backend's earlier definition (a built-in, or defaults), or
 * with `base: claude` another backend's (a variant with other arguments, say) under this name.
 */
function baseDefinition(y: YamlFile, name: string, entries: Entry[], known: Map<string, BackendDefinition>): BackendDefinition {
  const baseEntry = entries.find((e) => e.key === 'base');
  if (!baseEntry) return known.get(name) ?? defaults(name);
  const other = known.get(y.string(baseEntry));
  if (!other) y.fail(baseEntry.value, baseEntry.field, `no backend "${y.string(baseEntry)}" to start from; have: ${[...known.keys()].join(' ')}`);
  return { ...other, name, label: capitalise(name) };
}

function parseBackend(y: YamlFile, name: string, node: Entry, known: Map<string, BackendDefinition>): BackendDefinition {
  const entries = y.entries(node.value, node.field, ['base', ...Object.keys(READERS)]);
  const def: BackendDefinition = structuredClone(baseDefinition(y, name, entries, known));
  for (const e of entries) READERS[e.key]?.(y, e, def);
  if (def.state.method === 'hooks' && !def.driver) {
    y.fail(node.value, `${node.field}.state.method`, `hooks need a driver (driver: ${Object.keys(DRIVERS).join(' | ')}); use quiet`);
  }
  return def;
}

/** Built-ins, overridden and extended by `text` (the contents of `file`). */
export function parseBackends(text: string, file: string): BackendDefinition[] {
  const y = new YamlFile(text, file, BackendConfigError);
  const byName = new Map(BUILTIN.map((b) => [b.name, b]));
  for (const top of y.entries(y.root, '', ['backends'])) {
    for (const entry of y.entries(top.value, 'backends')) {
      if (!NAME.test(entry.key)) y.fail(entry.keyNode, entry.field, 'a backend name is lowercase letters, digits, - and _');
      byName.set(entry.key, parseBackend(y, entry.key, entry, byName));
    }
  }
  const defs = [...byName.values()];
  const labels = new Map<string, string>();
  for (const d of defs) {
    const other = labels.get(d.label.toLowerCase());
    if (other) throw new BackendConfigError(`${file}: backends ${other} and ${d.name} both have the label ${d.label}: give one another label`);
    labels.set(d.label.toLowerCase(), d.name);
  }
  return defs;
}

/** The backends in force: built-ins plus ~/.config/anvillm/backends.yaml when it exists. */
export function loadBackends(env: Env = process.env): BackendDefinition[] {
  const file = backendsPath(env);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [...BUILTIN];
    throw e;
  }
  return parseBackends(text, file);
}
