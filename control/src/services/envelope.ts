/**
 * Envelope encryption for content at rest. Each tenant has a data key (AES-256) that encrypts its
 * content with AES-256-GCM; the data key is stored only wrapped (AES-256-GCM) by a master key from
 * config. Rotating the master key re-wraps data keys without touching content; rotating a tenant's
 * data key starts a new version for new content while old versions keep decrypting old rows.
 *
 * Formats: wrapped = iv(12) | tag(16) | ciphertext(32), AAD = "dk:<tenant>:<version>";
 * content = nonce column (12) + ciphertext column = ciphertext | tag(16), AAD chosen by the caller.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { newId } from '../../../shared/src/ids.ts';
import { AppError } from '../../../shared/src/errors.ts';
import type { ControlConfig } from '../config.ts';
import type { Db, Tx } from '../db/client.ts';

const ALG = 'aes-256-gcm';

export interface MasterKey { id: string; key: Buffer }
export interface Keyring { current: MasterKey; byId: ReadonlyMap<string, Buffer> }

export function masterKeyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

function decodeKey(b64: string, name: string): Buffer {
  const k = Buffer.from(b64, 'base64');
  if (k.length !== 32) throw new Error(`${name} must be 32 bytes, base64-encoded`);
  return k;
}

export function createKeyring(current: Buffer, previous: Buffer[] = []): Keyring {
  const byId = new Map<string, Buffer>();
  for (const k of [current, ...previous]) byId.set(masterKeyId(k), k);
  return { current: { id: masterKeyId(current), key: current }, byId };
}

const keyrings = new WeakMap<object, Promise<Keyring>>();

/** The keyring of a config (read once per config object): MASTER_KEY, else DATA_DIR/master-key (created once). */
export function keyringOf(config: Pick<ControlConfig, 'MASTER_KEY' | 'MASTER_KEYS_PREVIOUS' | 'DATA_DIR'>): Promise<Keyring> {
  let k = keyrings.get(config);
  if (!k) {
    k = loadKeyring(config);
    keyrings.set(config, k);
  }
  return k;
}

async function loadKeyring(config: Pick<ControlConfig, 'MASTER_KEY' | 'MASTER_KEYS_PREVIOUS' | 'DATA_DIR'>): Promise<Keyring> {
  const previous = config.MASTER_KEYS_PREVIOUS.map((k, i) => decodeKey(k, `MASTER_KEYS_PREVIOUS[${i}]`));
  if (config.MASTER_KEY) return createKeyring(decodeKey(config.MASTER_KEY, 'MASTER_KEY'), previous);
  const file = path.resolve(config.DATA_DIR, 'master-key');
  let b64: string | null = null;
  try {
    b64 = (await readFile(file, 'utf8')).trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (!b64) {
    b64 = randomBytes(32).toString('base64');
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, b64, { mode: 0o600, flag: 'wx' }).catch(async (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
      b64 = (await readFile(file, 'utf8')).trim(); // another process created it first
    });
  }
  return createKeyring(decodeKey(b64!, file), previous);
}

export function seal(key: Buffer, plaintext: Buffer, aad: string): { nonce: Buffer; ciphertext: Buffer } {
  const nonce = randomBytes(12);
  const c = createCipheriv(ALG, key, nonce);
  c.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
  return { nonce, ciphertext: ct };
}

export function open(key: Buffer, nonce: Buffer, ciphertext: Buffer, aad: string): Buffer {
  if (ciphertext.length < 16) throw new AppError('INTERNAL', 'ciphertext too short');
  const d = createDecipheriv(ALG, key, nonce);
  d.setAAD(Buffer.from(aad, 'utf8'));
  d.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  return Buffer.concat([d.update(ciphertext.subarray(0, ciphertext.length - 16)), d.final()]);
}

function wrapAad(tenantId: string, version: number): string {
  return `dk:${tenantId}:${version}`;
}

function wrap(master: MasterKey, dataKey: Buffer, aad: string): Buffer {
  const { nonce, ciphertext } = seal(master.key, dataKey, aad);
  const tag = ciphertext.subarray(ciphertext.length - 16);
  return Buffer.concat([nonce, tag, ciphertext.subarray(0, ciphertext.length - 16)]);
}

function unwrap(masterKey: Buffer, wrapped: Buffer, aad: string): Buffer {
  const iv = wrapped.subarray(0, 12);
  const tag = wrapped.subarray(12, 28);
  return open(masterKey, iv, Buffer.concat([wrapped.subarray(28), tag]), aad);
}

interface KeyRow { id: string; version: number; master_key_id: string; wrapped: Buffer }

// unwrapped data keys by id and wrapping master (a data key never changes; re-wrapping changes only its wrapping)
// per keyring, so a key is only ever served to a ring that could unwrap it itself
const unwrappedByRing = new WeakMap<Keyring, Map<string, Buffer>>();
const CACHE_MAX = 1024;

function unwrapRow(ring: Keyring, tenantId: string, r: KeyRow): Buffer {
  // keyed by the wrapping too: after a re-wrap the key is unwrapped again with the master that now wraps it
  const cacheKey = `${r.id}:${r.master_key_id}`;
  let unwrapped = unwrappedByRing.get(ring);
  if (!unwrapped) unwrappedByRing.set(ring, (unwrapped = new Map()));
  const hit = unwrapped.get(cacheKey);
  if (hit) return hit;
  const master = ring.byId.get(r.master_key_id);
  if (!master) throw new AppError('INTERNAL', `data key ${r.id} is wrapped by master key ${r.master_key_id}, which is not configured`);
  const k = unwrap(master, r.wrapped, wrapAad(tenantId, r.version));
  if (unwrapped.size >= CACHE_MAX) unwrapped.delete(unwrapped.keys().next().value!);
  unwrapped.set(cacheKey, k);
  return k;
}

/** The tenant's active data key, created (version 1) on first use. */
export async function activeDataKey(tx: Tx, ring: Keyring, tenantId: string): Promise<{ id: string; key: Buffer }> {
  let [r] = await tx<KeyRow[]>`select id, version, master_key_id, wrapped from tenant_data_keys where tenant_id = ${tenantId} and active`;
  if (!r) {
    const dk = randomBytes(32);
    await tx`insert into tenant_data_keys (id, tenant_id, version, master_key_id, wrapped)
      values (${newId()}, ${tenantId}, 1, ${ring.current.id}, ${wrap(ring.current, dk, wrapAad(tenantId, 1))})
      on conflict do nothing`;
    [r] = await tx<KeyRow[]>`select id, version, master_key_id, wrapped from tenant_data_keys where tenant_id = ${tenantId} and active`;
  }
  return { id: r!.id, key: unwrapRow(ring, tenantId, r!) };
}

export async function dataKeyById(tx: Tx, ring: Keyring, tenantId: string, keyId: string): Promise<Buffer> {
  const [r] = await tx<KeyRow[]>`select id, version, master_key_id, wrapped from tenant_data_keys where tenant_id = ${tenantId} and id = ${keyId}`;
  if (!r) throw new AppError('INTERNAL', 'data key not found');
  return unwrapRow(ring, tenantId, r);
}

/** Encrypt for a tenant under its active data key. */
export async function encryptFor(tx: Tx, ring: Keyring, tenantId: string, plaintext: Buffer, aad: string) {
  const dk = await activeDataKey(tx, ring, tenantId);
  return { keyId: dk.id, ...seal(dk.key, plaintext, aad) };
}

export async function decryptFor(tx: Tx, ring: Keyring, tenantId: string, keyId: string, nonce: Buffer, ciphertext: Buffer, aad: string): Promise<Buffer> {
  return open(await dataKeyById(tx, ring, tenantId, keyId), nonce, ciphertext, aad);
}

/** Start a new data-key version for the tenant; rows encrypted before keep their key id and stay readable. */
export async function rotateTenantDataKey(tx: Tx, ring: Keyring, tenantId: string): Promise<{ id: string; version: number }> {
  await tx`select pg_advisory_xact_lock(hashtextextended('dk:' || ${tenantId}, 0))`;
  const [m] = await tx<{ v: number | null }[]>`select max(version) as v from tenant_data_keys where tenant_id = ${tenantId}`;
  const version = (m?.v ?? 0) + 1;
  await tx`update tenant_data_keys set active = false where tenant_id = ${tenantId} and active`;
  const id = newId();
  await tx`insert into tenant_data_keys (id, tenant_id, version, master_key_id, wrapped)
    values (${id}, ${tenantId}, ${version}, ${ring.current.id}, ${wrap(ring.current, randomBytes(32), wrapAad(tenantId, version))})`;
  return { id, version };
}

/**
 * Master-key rotation: re-wrap every data key wrapped by another (previous) master key under the
 * current one. Content is not re-encrypted. Idempotent; returns how many keys it re-wrapped.
 */
export async function rewrapDataKeys(db: Db, ring: Keyring): Promise<number> {
  const rows = await db.sql<{ key_id: string; key_tenant_id: string; key_version: number; key_master_key_id: string; key_wrapped: Buffer }[]>`
    select key_id, key_tenant_id, key_version, key_master_key_id, key_wrapped from data_keys_wrapped_by_other(${ring.current.id})`;
  let n = 0;
  for (const r of rows) {
    const old = ring.byId.get(r.key_master_key_id);
    if (!old) throw new Error(`data key ${r.key_id} is wrapped by master key ${r.key_master_key_id}, which is not in MASTER_KEYS_PREVIOUS`);
    const aad = wrapAad(r.key_tenant_id, r.key_version);
    const rewrapped = wrap(ring.current, unwrap(old, r.key_wrapped, aad), aad);
    const [ok] = await db.sql<{ ok: boolean | null }[]>`select data_key_rewrap(${r.key_id}, ${r.key_master_key_id}, ${ring.current.id}, ${rewrapped}) as ok`;
    if (ok?.ok) n++;
  }
  return n;
}
