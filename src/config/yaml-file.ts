/**
 * Reading our YAML files (sandbox.yaml, backends.yaml) with the `yaml` package, field by field.
 * Every mistake is an error naming the file, the line and the field: a configuration that is not
 * what the user wrote must never be used in its place.
 */
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node as YamlNode, type Scalar } from 'yaml';

export type { YamlNode };

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface Entry {
  key: string;
  /** The dotted field name, for errors. */
  field: string;
  value: YamlNode | null;
  keyNode: YamlNode;
}

export class YamlFile {
  private readonly lines = new LineCounter();
  readonly root: YamlNode | null;

  constructor(
    text: string,
    readonly file: string,
    private readonly errorType: new (message: string) => Error = ConfigError,
  ) {
    // Duplicate keys are found in `entries`, where the error can name the key's own line.
    const doc = parseDocument(text, { lineCounter: this.lines, uniqueKeys: false, prettyErrors: false });
    const first = doc.errors[0];
    if (first) throw new this.errorType(`${file}:${first.linePos?.[0].line ?? 1}: ${first.message.split('\n')[0]}`);
    this.root = (doc.contents as YamlNode | null) ?? null;
  }

  lineOf(node: YamlNode | null | undefined): number {
    return node?.range ? this.lines.linePos(node.range[0]).line : 1;
  }

  fail(node: YamlNode | null | undefined, field: string, what: string): never {
    throw new this.errorType(`${this.file}:${this.lineOf(node)}: ${field}: ${what}`);
  }

  /** The pairs of a mapping; with `known`, any other key is an error. Duplicates always are. */
  entries(node: YamlNode | null, field: string, known?: readonly string[]): Entry[] {
    if (node === null || (isScalar(node) && node.value === null)) return [];
    if (!isMap(node)) this.fail(node, field || 'the file', known ? `must be a mapping of ${known.join(', ')}` : 'must be a mapping');
    const out: Entry[] = [];
    const seen = new Set<string>();
    for (const pair of (node as { items: { key: unknown; value: unknown }[] }).items) {
      const keyNode = pair.key as YamlNode;
      const key = isScalar(keyNode) ? String(keyNode.value) : '';
      const name = field ? `${field}.${key}` : key;
      if (known && !known.includes(key)) this.fail(keyNode, name, `unknown key; expected one of ${known.join(', ')}`);
      if (seen.has(key)) this.fail(keyNode, name, 'appears twice; keep one');
      seen.add(key);
      out.push({ key, field: name, value: (pair.value as YamlNode | null) ?? null, keyNode });
    }
    return out;
  }

  bool(e: Entry): boolean {
    if (!isScalar(e.value) || typeof e.value.value !== 'boolean') return this.fail(e.value ?? e.keyNode, e.field, 'must be true or false');
    return e.value.value as boolean;
  }

  oneOf<T extends string>(e: Entry, allowed: readonly T[]): T {
    const v = e.value;
    if (!isScalar(v) || typeof v.value !== 'string' || !allowed.includes(v.value as T)) return this.fail(v ?? e.keyNode, e.field, `must be one of ${allowed.join(', ')}`);
    return v.value as T;
  }

  string(e: Entry): string {
    const v = e.value;
    if (!isScalar(v) || v.value === null || typeof v.value === 'object') return this.fail(v ?? e.keyNode, e.field, 'must be a string');
    return String(v.value);
  }

  integer(e: Entry, min: number, max: number): number {
    const v = e.value;
    if (!isScalar(v) || typeof v.value !== 'number' || !Number.isInteger(v.value) || v.value < min || v.value > max) {
      return this.fail(v ?? e.keyNode, e.field, `must be a whole number from ${min} to ${max}`);
    }
    return v.value;
  }

  /** A list of scalars (empty when null). */
  list(e: Entry): Scalar[] {
    const v = e.value;
    if (v === null || (isScalar(v) && v.value === null)) return [];
    if (!isSeq(v)) return this.fail(v, e.field, 'must be a list');
    return v.items.map((item, i) => {
      if (!isScalar(item) || item.value === null || typeof item.value === 'object') this.fail((item as YamlNode) ?? e.keyNode, `${e.field}[${i}]`, 'must be a string');
      return item as Scalar;
    });
  }

  strings(e: Entry): string[] {
    return this.list(e).map((s) => String(s.value));
  }

  /** A mapping of names to strings. */
  stringMap(e: Entry): Record<string, string> {
    return Object.fromEntries(this.entries(e.value, e.field).map((x) => [x.key, this.string(x)]));
  }

  /** A regular expression, checked to compile. */
  regex(e: Entry, node: YamlNode | null = e.value, field = e.field): RegExp {
    const text = this.string({ ...e, value: node, field });
    try {
      return new RegExp(text, 'm');
    } catch (err) {
      return this.fail(node, field, `is not a valid regular expression: ${(err as Error).message}`);
    }
  }
}
