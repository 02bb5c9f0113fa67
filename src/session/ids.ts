import { randomBytes } from 'node:crypto';

/** Names in the agent/ root: no alias may shadow them. */
export const ROOT_NAMES = ['ctl', 'list', 'backends', 'events'] as const;

const ID = /^[0-9a-f]{8}$/;
const ALIAS = /^[A-Za-z0-9_-]+$/;

export function isId(text: string): boolean {
  return ID.test(text);
}

/** 8 random lowercase hex characters not in `taken`. */
export function newId(taken: (id: string) => boolean): string {
  for (;;) {
    const id = randomBytes(4).toString('hex');
    if (!taken(id)) return id;
  }
}

/** Why `alias` cannot be used, or null when it can. */
export function aliasProblem(alias: string): string | null {
  if (!ALIAS.test(alias)) return `bad alias "${alias}": use letters, digits, - and _`;
  if (ID.test(alias)) return `bad alias "${alias}": 8 hex characters look like a session id`;
  if ((ROOT_NAMES as readonly string[]).includes(alias)) return `bad alias "${alias}": it is a file in agent/`;
  return null;
}
