/**
 * Key material: the ES256 session-token signing key and the HS256 secret for user access tokens.
 * Taken from config when set; otherwise generated once and persisted under DATA_DIR so tokens survive
 * a restart of the embedded default.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes, createHash } from 'node:crypto';
import { generateSigningKey, importSigningKey, type SigningKey } from '../../../shared/src/token.ts';
import type { ControlConfig } from '../config.ts';

async function readIfExists(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

export async function loadSigningKey(config: Pick<ControlConfig, 'CONTROL_SIGNING_JWK' | 'DATA_DIR'>): Promise<SigningKey> {
  if (config.CONTROL_SIGNING_JWK) return importSigningKey(JSON.parse(config.CONTROL_SIGNING_JWK));
  const file = path.resolve(config.DATA_DIR, 'signing-key.json');
  const existing = await readIfExists(file);
  if (existing) return importSigningKey(JSON.parse(existing));
  const key = await generateSigningKey();
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(key.privateJwk), { mode: 0o600 });
  return key;
}

export async function loadJwtSecret(config: Pick<ControlConfig, 'JWT_SECRET' | 'DATA_DIR'>): Promise<Uint8Array> {
  if (config.JWT_SECRET) return new TextEncoder().encode(config.JWT_SECRET);
  const file = path.resolve(config.DATA_DIR, 'jwt-secret');
  let secret = (await readIfExists(file))?.trim();
  if (!secret) {
    secret = randomBytes(32).toString('base64url');
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, secret, { mode: 0o600 });
  }
  return new TextEncoder().encode(secret);
}

/** sha256 hex: refresh tokens and API keys carry 192+ bits of entropy, so a fast hash suffices. */
export function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}
