/**
 * Recordings: metadata rows in Postgres and the bytes in a storage backend behind `RecordingStorage`
 * (a local directory now; object storage implements the same three calls). Written only for sessions
 * admitted with `recording` consent; the bytes are encrypted under the tenant data key before they
 * reach storage, so the store never holds plaintext audio.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { newId } from '../../../shared/src/ids.ts';
import { AppError } from '../../../shared/src/errors.ts';
import { withTenant, type Db } from '../db/client.ts';
import type { ControlConfig } from '../config.ts';
import type { Actor, Principal } from '../types.ts';
import { appendAudit } from './audit.ts';
import { asDb, sessionTenant, type DbLike } from './billing.ts';
import { decryptFor, encryptFor, keyringOf } from './envelope.ts';
import type { KeyConfig } from './transcripts.ts';

export interface RecordingStorage {
  put(key: string, data: Buffer): Promise<void>;
  get(key: string): Promise<Buffer>;
  /** missing keys are not an error (erasure and retention may race) */
  delete(key: string): Promise<void>;
}

const SAFE_KEY = /^[a-z0-9-]+\/[a-z0-9-]+\/[a-z0-9-]+\.bin$/;

export class LocalDirStorage implements RecordingStorage {
  constructor(readonly dir: string) {}
  private file(key: string): string {
    if (!SAFE_KEY.test(key)) throw new AppError('INTERNAL', 'bad storage key');
    return path.join(this.dir, key);
  }
  async put(key: string, data: Buffer): Promise<void> {
    const f = this.file(key);
    await mkdir(path.dirname(f), { recursive: true });
    // write-then-rename: a crash never leaves a half-written recording under its final name
    const tmp = `${f}.${process.pid}.tmp`;
    await writeFile(tmp, data, { mode: 0o600 });
    await rename(tmp, f);
  }
  async get(key: string): Promise<Buffer> {
    return readFile(this.file(key));
  }
  async delete(key: string): Promise<void> {
    await rm(this.file(key), { force: true });
  }
}

const stores = new WeakMap<object, RecordingStorage>();
export function recordingStorageOf(config: Pick<ControlConfig, 'RECORDINGS_DIR' | 'DATA_DIR'>): RecordingStorage {
  let s = stores.get(config);
  if (!s) {
    s = new LocalDirStorage(path.resolve(config.RECORDINGS_DIR ?? path.join(config.DATA_DIR, 'recordings')));
    stores.set(config, s);
  }
  return s;
}

export type RecordingConfig = KeyConfig & Pick<ControlConfig, 'RECORDINGS_DIR'>;

function aad(tenantId: string, sessionId: string, id: string): string {
  return `rec:${tenantId}:${sessionId}:${id}`;
}

/** Store a recording of a session (the gateway or an upload). Refused without `recording` consent. */
export async function saveRecording(deps: { db: DbLike; config: RecordingConfig; storage?: RecordingStorage }, sessionId: string,
  rec: { contentType: string; data: Buffer }) {
  const db = asDb(deps.db);
  const storage = deps.storage ?? recordingStorageOf(deps.config);
  const tenantId = await sessionTenant(db, sessionId);
  if (!tenantId) throw new AppError('NOT_FOUND', 'no such session');
  const ring = await keyringOf(deps.config);
  const id = newId();
  const key = `${tenantId}/${sessionId}/${id}.bin`;
  return withTenant(db, tenantId, async (tx) => {
    const [s] = await tx<{ purposes: string[] }[]>`select purposes from sessions where tenant_id = ${tenantId} and id = ${sessionId}`;
    if (!s!.purposes.includes('recording')) throw new AppError('CONSENT_REQUIRED', 'this session was not admitted with recording consent', { missing: ['recording'] });
    const enc = await encryptFor(tx, ring, tenantId, rec.data, aad(tenantId, sessionId, id));
    await storage.put(key, enc.ciphertext);
    try {
      await tx`insert into recordings (id, tenant_id, session_id, storage_key, content_type, bytes, sha256, key_id, nonce)
        values (${id}, ${tenantId}, ${sessionId}, ${key}, ${rec.contentType}, ${rec.data.length}, ${createHash('sha256').update(rec.data).digest('hex')},
                ${enc.keyId}, ${enc.nonce})`;
    } catch (e) {
      await storage.delete(key);
      throw e;
    }
    return { id, session_id: sessionId, content_type: rec.contentType, bytes: rec.data.length };
  });
}

interface RecRow { id: string; session_id: string; storage_key: string; content_type: string; bytes: string; sha256: string; key_id: string; nonce: Buffer; created_at: Date }

export async function listRecordings(db: Db, p: Principal, sessionId: string) {
  return withTenant(db, p.tenantId, async (tx) => {
    const [s] = await tx`select id from sessions where tenant_id = ${p.tenantId} and id = ${sessionId}`;
    if (!s) throw new AppError('NOT_FOUND', 'no such session');
    const rows = await tx<RecRow[]>`select id, session_id, storage_key, content_type, bytes, sha256, key_id, nonce, created_at from recordings
      where tenant_id = ${p.tenantId} and session_id = ${sessionId} order by id`;
    return { data: rows.map((r) => ({ id: r.id, session_id: r.session_id, content_type: r.content_type, bytes: Number(r.bytes), sha256: r.sha256, created_at: r.created_at.toISOString() })) };
  });
}

/** The decrypted bytes of one recording (audited read). */
export async function readRecording(deps: { db: Db; config: RecordingConfig; storage?: RecordingStorage }, p: Principal, actor: Actor, sessionId: string, recordingId: string) {
  const storage = deps.storage ?? recordingStorageOf(deps.config);
  const ring = await keyringOf(deps.config);
  return withTenant(deps.db, p.tenantId, async (tx) => {
    const [r] = await tx<RecRow[]>`select id, session_id, storage_key, content_type, bytes, sha256, key_id, nonce, created_at from recordings
      where tenant_id = ${p.tenantId} and session_id = ${sessionId} and id = ${recordingId}`;
    if (!r) throw new AppError('NOT_FOUND', 'no such recording');
    const data = await decryptFor(tx, ring, p.tenantId, r.key_id, r.nonce, await storage.get(r.storage_key), aad(p.tenantId, sessionId, r.id));
    await appendAudit(tx, p.tenantId, actor, { action: 'recording.read', targetType: 'recording', targetId: r.id, data: { session_id: sessionId } });
    return { contentType: r.content_type, data };
  });
}
