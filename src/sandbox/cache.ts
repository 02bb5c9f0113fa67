/**
 * What a daemon need not redo at every `new`: probing the providers runs them (two or three
 * processes, some 25 ms), parsing sandbox.yaml some milliseconds. The policy is still read afresh
 * at every `new` in effect — any change of the file (its inode, size, mtime or ctime) is parsed
 * again — and a provider is probed again when its program on PATH is installed, removed or
 * replaced. A probe that found no usable provider is never kept: a fix applies at the next `new`.
 */
import fs from 'node:fs';

import { loadPolicy, policyPath, type Policy } from './policy.js';
import { probe, type Probe } from './providers.js';
import { findOnPath } from './resolve.js';

type Env = NodeJS.ProcessEnv;

/** Changes whenever the file does (nanosecond times: two edits within a millisecond differ). */
function identity(file: string | null): string {
  if (file === null) return '-';
  try {
    const s = fs.statSync(file, { bigint: true });
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch {
    return '-';
  }
}

export class SandboxCache {
  private policyKey = '';
  private cachedPolicy: Policy | null = null;
  private probeKey = '';
  private cachedProbe: Promise<Probe> | null = null;

  constructor(private readonly env: Env) {}

  /** The policy as the file says now (written with the defaults when missing, as loadPolicy does). */
  policy(): Policy {
    // Taken before the read: a change during it makes the next `new` read the file again.
    const key = identity(policyPath(this.env));
    if (this.cachedPolicy && key === this.policyKey && key !== '-') return this.cachedPolicy;
    const policy = loadPolicy(this.env); // throws on a mistake: nothing is kept then
    this.cachedPolicy = policy;
    // A missing file was just written with the defaults.
    this.policyKey = key === '-' ? identity(policyPath(this.env)) : key;
    return policy;
  }

  /** What this machine can enforce. */
  async probe(): Promise<Probe> {
    const key = ['bwrap', 'landrun', 'true'].map((p) => identity(findOnPath(p, this.env))).join(' ') + ` ${this.env['PATH'] ?? ''}`;
    if (this.cachedProbe && key === this.probeKey) return this.cachedProbe;
    this.probeKey = key;
    const probing = probe(this.env);
    this.cachedProbe = probing;
    const found = await probing;
    if (!found.bwrap.usable && !found.landrun.usable && this.cachedProbe === probing) this.cachedProbe = null;
    return found;
  }
}
