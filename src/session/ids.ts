import { randomBytes } from 'node:crypto';

// The naming rules are agent/'s protocol: every layer takes them from there.
export { aliasProblem, isId } from '../protocol/protocol.js';

/** 8 random lowercase hex characters not in `taken`. */
export function newId(taken: (id: string) => boolean): string {
  for (;;) {
    const id = randomBytes(4).toString('hex');
    if (!taken(id)) return id;
  }
}
