import { uuidv7 } from 'uuidv7';
import { randomBytes } from 'node:crypto';

/** Time-ordered unique id (UUIDv7): event ids, session ids, row ids. */
export function newId(): string {
  return uuidv7();
}

/** URL-safe random token of `bytes` bytes of entropy (API keys, refresh tokens, secrets). */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}
