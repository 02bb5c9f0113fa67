/**
 * The sandbox policy file: parsed with `yaml`, validated field by field. Every mistake is an
 * error naming the file, the line and the field; nothing falls back to defaults silently, because
 * a policy that is not what the user wrote is a sandbox that is not what the user wanted.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ConfigError, YamlFile, type Entry } from '../config/yaml-file.js';

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
  /** filesystem.unprotect: protected paths (protected.ts) the user releases, at their own risk. */
  unprotect: { template: string; line: number }[];
  network: { enabled: boolean; unrestricted: boolean; connectTcp: PortRange[]; bindTcp: PortRange[] };
  /** Variable names, or prefixes ending in `*`. */
  env: string[];
  ldd: boolean;
  addExec: boolean;
}

export class PolicyError extends ConfigError {
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

/** A variable name, or a prefix ending in `*`. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*\*?$/;

export function parsePolicy(text: string, file: string): Policy {
  const y = new YamlFile(text, file, PolicyError);
  const policy: Policy = {
    file,
    bestEffort: false,
    logLevel: 'error',
    provider: 'auto',
    paths: [],
    unprotect: [],
    network: { enabled: true, unrestricted: true, connectTcp: [], bindTcp: [] },
    env: [],
    ldd: false,
    addExec: false,
  };
  const ports = (e: Entry): PortRange[] =>
    y.list(e).map((item, i) => {
      const text = String(item.value).trim();
      const m = /^(\d+)(?:-(\d+))?$/.exec(text);
      const where = `${e.field}[${i}]`;
      if (!m) return y.fail(item, where, `"${text}" is not a port or a range like "3000-3010"`);
      const from = Number(m[1]);
      const to = m[2] === undefined ? from : Number(m[2]);
      for (const p of [from, to]) if (p < 1 || p > 65535) y.fail(item, where, `port ${p} is outside 1-65535`);
      if (from > to) y.fail(item, where, `range ${text} runs backwards`);
      return { from, to };
    });

  for (const section of y.entries(y.root, '', ['general', 'filesystem', 'network', 'env', 'advanced'])) {
    switch (section.key) {
      case 'general':
        for (const e of y.entries(section.value, 'general', ['best_effort', 'log_level', 'provider'])) {
          if (e.key === 'best_effort') policy.bestEffort = y.bool(e);
          else if (e.key === 'log_level') policy.logLevel = y.oneOf(e, ['error', 'info', 'debug'] as const);
          else policy.provider = y.oneOf(e, ['auto', 'landrun', 'bwrap'] as const);
        }
        break;
      case 'filesystem':
        for (const e of y.entries(section.value, 'filesystem', [...ACCESSES, 'unprotect'])) {
          y.list(e).forEach((item, i) => {
            const template = String(item.value).trim();
            if (!template.startsWith('/') && !template.startsWith('{') && !template.startsWith('~/')) {
              y.fail(item, `${e.field}[${i}]`, `"${template}" is a relative path: write it absolute, or start it with a template such as {HOME}/`);
            }
            if (e.key === 'unprotect') policy.unprotect.push({ template, line: y.lineOf(item) });
            else policy.paths.push({ template, access: e.key as Access, line: y.lineOf(item) });
          });
        }
        break;
      case 'network':
        for (const e of y.entries(section.value, 'network', ['enabled', 'unrestricted', 'connect_tcp', 'bind_tcp'])) {
          if (e.key === 'enabled') policy.network.enabled = y.bool(e);
          else if (e.key === 'unrestricted') policy.network.unrestricted = y.bool(e);
          else if (e.key === 'connect_tcp') policy.network.connectTcp = ports(e);
          else policy.network.bindTcp = ports(e);
        }
        break;
      case 'env':
        policy.env = y.list(section).map((item, i) => {
          const name = String(item.value).trim();
          if (!ENV_NAME.test(name)) y.fail(item, `env[${i}]`, `"${name}" is not a variable name (or a prefix ending in *)`);
          return name;
        });
        break;
      case 'advanced':
        for (const e of y.entries(section.value, 'advanced', ['ldd', 'add_exec'])) {
          if (e.key === 'ldd') policy.ldd = y.bool(e);
          else policy.addExec = y.bool(e);
        }
        break;
    }
  }
  return policy;
}
