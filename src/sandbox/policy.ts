/**
 * The sandbox policy file: parsed with `yaml`, validated field by field. Every mistake is an
 * error naming the file, the line and the field; nothing falls back to defaults silently, because
 * a policy that is not what the user wrote is a sandbox that is not what the user wanted.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { LineCounter, Scalar, isMap, isScalar, isSeq, parseDocument, type Node as YamlNode } from 'yaml';

import { DEFAULT_POLICY_YAML } from './default-policy.js';

export type Access = 'ro' | 'rox' | 'rw' | 'rwx';
export const ACCESSES: readonly Access[] = ['ro', 'rox', 'rw', 'rwx'];
export type Provider = 'auto' | 'landrun' | 'bwrap';
export type LogLevel = 'error' | 'info' | 'debug';

/** A path as written, with where it was written, so expansion errors can point at it. */
export interface PathRule {
  template: string;
  access: Access;
  line: number;
}

export interface PortRange {
  from: number;
  to: number;
}

export interface Policy {
  /** The file it came from. */
  file: string;
  bestEffort: boolean;
  logLevel: LogLevel;
  provider: Provider;
  paths: PathRule[];
  network: { enabled: boolean; unrestricted: boolean; connectTcp: PortRange[]; bindTcp: PortRange[] };
  /** Variable names, or prefixes ending in `*`. */
  env: string[];
  ldd: boolean;
  addExec: boolean;
}

export class PolicyError extends Error {
  override name = 'PolicyError';
}

type Env = NodeJS.ProcessEnv;

export function homeDir(env: Env): string {
  return env['HOME'] || os.homedir();
}

export function configHome(env: Env): string {
  return env['XDG_CONFIG_HOME'] || path.join(homeDir(env), '.config');
}

export function stateHome(env: Env): string {
  return env['XDG_STATE_HOME'] || path.join(homeDir(env), '.local', 'state');
}

/** ~/.config/anvillm/sandbox.yaml, honouring $XDG_CONFIG_HOME. */
export function policyPath(env: Env = process.env): string {
  return path.join(configHome(env), 'anvillm', 'sandbox.yaml');
}

/** Reads the policy file, first writing the commented default if there is none (never overwriting). */
export function loadPolicy(env: Env = process.env): Policy {
  const file = policyPath(env);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    fs.writeFileSync(file, DEFAULT_POLICY_YAML, { flag: 'wx', mode: 0o644 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  return parsePolicy(fs.readFileSync(file, 'utf8'), file);
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*\*?$/;

export function parsePolicy(text: string, file: string): Policy {
  const lines = new LineCounter();
  // Duplicate keys are found below, where the error can name the key's own line.
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: false, prettyErrors: false });
  const lineOf = (node: YamlNode | null | undefined): number => (node?.range ? lines.linePos(node.range[0]).line : 1);
  const fail = (node: YamlNode | null | undefined, field: string, what: string): never => {
    throw new PolicyError(`${file}:${lineOf(node)}: ${field}: ${what}`);
  };
  const firstError = doc.errors[0];
  if (firstError) {
    const line = firstError.linePos?.[0].line ?? 1;
    throw new PolicyError(`${file}:${line}: ${firstError.message.split('\n')[0]}`);
  }

  const policy: Policy = {
    file,
    bestEffort: false,
    logLevel: 'error',
    provider: 'auto',
    paths: [],
    network: { enabled: true, unrestricted: true, connectTcp: [], bindTcp: [] },
    env: [],
    ldd: false,
    addExec: false,
  };

  /** The pairs of a mapping, each key checked against `known`. */
  const entries = (node: YamlNode | null, field: string, known: string[]): [string, YamlNode | null, YamlNode][] => {
    if (node === null) return [];
    if (!isMap(node)) fail(node, field, `must be a mapping of ${known.join(', ')}`);
    const out: [string, YamlNode | null, YamlNode][] = [];
    const seen = new Set<string>();
    for (const pair of (node as { items: { key: unknown; value: unknown }[] }).items) {
      const keyNode = pair.key as YamlNode;
      const key = isScalar(keyNode) ? String(keyNode.value) : '';
      const name = field ? `${field}.${key}` : key;
      if (!known.includes(key)) fail(keyNode, name, `unknown key; expected one of ${known.join(', ')}`);
      if (seen.has(key)) fail(keyNode, name, 'appears twice; keep one');
      seen.add(key);
      out.push([key, (pair.value as YamlNode | null) ?? null, keyNode]);
    }
    return out;
  };
  const bool = (node: YamlNode | null, key: YamlNode, field: string): boolean => {
    if (!isScalar(node) || typeof node.value !== 'boolean') return fail(node ?? key, field, 'must be true or false');
    return node.value as boolean;
  };
  const oneOf = <T extends string>(node: YamlNode | null, key: YamlNode, field: string, allowed: readonly T[]): T => {
    if (!isScalar(node) || typeof node.value !== 'string' || !allowed.includes(node.value as T)) {
      return fail(node ?? key, field, `must be one of ${allowed.join(', ')}`);
    }
    return node.value as T;
  };
  const list = (node: YamlNode | null, key: YamlNode, field: string): Scalar[] => {
    if (node === null || (isScalar(node) && node.value === null)) return [];
    if (!isSeq(node)) return fail(node, field, 'must be a list');
    return node.items.map((item, i) => {
      if (!isScalar(item) || item.value === null || typeof item.value === 'object') fail((item as YamlNode) ?? key, `${field}[${i}]`, 'must be a string');
      return item as Scalar;
    });
  };
  const ports = (node: YamlNode | null, key: YamlNode, field: string): PortRange[] =>
    list(node, key, field).map((item, i) => {
      const text = String(item.value).trim();
      const m = /^(\d+)(?:-(\d+))?$/.exec(text);
      const where = `${field}[${i}]`;
      if (!m) return fail(item, where, `"${text}" is not a port or a range like "3000-3010"`);
      const from = Number(m[1]);
      const to = m[2] === undefined ? from : Number(m[2]);
      for (const p of [from, to]) if (p < 1 || p > 65535) fail(item, where, `port ${p} is outside 1-65535`);
      if (from > to) fail(item, where, `range ${text} runs backwards`);
      return { from, to };
    });

  const root = doc.contents as YamlNode | null;
  for (const [section, value, key] of entries(root, '', ['general', 'filesystem', 'network', 'env', 'advanced'])) {
    switch (section) {
      case 'general':
        for (const [k, v, kn] of entries(value, 'general', ['best_effort', 'log_level', 'provider'])) {
          if (k === 'best_effort') policy.bestEffort = bool(v, kn, 'general.best_effort');
          else if (k === 'log_level') policy.logLevel = oneOf(v, kn, 'general.log_level', ['error', 'info', 'debug'] as const);
          else policy.provider = oneOf(v, kn, 'general.provider', ['auto', 'landrun', 'bwrap'] as const);
        }
        break;
      case 'filesystem':
        for (const [k, v, kn] of entries(value, 'filesystem', [...ACCESSES])) {
          list(v, kn, `filesystem.${k}`).forEach((item, i) => {
            const template = String(item.value).trim();
            const field = `filesystem.${k}[${i}]`;
            if (!template.startsWith('/') && !template.startsWith('{') && !template.startsWith('~/')) {
              fail(item, field, `"${template}" is a relative path: write it absolute, or start it with a template such as {HOME}/`);
            }
            policy.paths.push({ template, access: k as Access, line: lineOf(item) });
          });
        }
        break;
      case 'network':
        for (const [k, v, kn] of entries(value, 'network', ['enabled', 'unrestricted', 'connect_tcp', 'bind_tcp'])) {
          if (k === 'enabled') policy.network.enabled = bool(v, kn, 'network.enabled');
          else if (k === 'unrestricted') policy.network.unrestricted = bool(v, kn, 'network.unrestricted');
          else if (k === 'connect_tcp') policy.network.connectTcp = ports(v, kn, 'network.connect_tcp');
          else policy.network.bindTcp = ports(v, kn, 'network.bind_tcp');
        }
        break;
      case 'env':
        policy.env = list(value, key, 'env').map((item, i) => {
          const name = String(item.value).trim();
          if (!ENV_NAME.test(name)) fail(item, `env[${i}]`, `"${name}" is not a variable name (or a prefix ending in *)`);
          return name;
        });
        break;
      case 'advanced':
        for (const [k, v, kn] of entries(value, 'advanced', ['ldd', 'add_exec'])) {
          if (k === 'ldd') policy.ldd = bool(v, kn, 'advanced.ldd');
          else policy.addExec = bool(v, kn, 'advanced.add_exec');
        }
        break;
    }
  }
  return policy;
}
