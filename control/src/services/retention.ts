/**
 * Retention: session content (transcripts, recordings, post-call data, features) of sessions that
 * ended more than RETENTION_CONTENT_DAYS ago, and audit rows older than RETENTION_AUDIT_DAYS (the
 * chain is anchored so it still verifies). Runs as `npm run jobs:retention` or on an in-process
 * schedule (RETENTION_INTERVAL_MIN > 0). The database functions refuse windows shorter than their
 * floors (1 day of content, 30 days of audit), whatever the config says.
 */
import type { Logger } from '../../../shared/src/logger.ts';
import type { ControlConfig } from '../config.ts';
import type { Db } from '../db/client.ts';
import { recordingStorageOf, type RecordingStorage } from './recordings.ts';

const DAY_MS = 86_400_000;

export type RetentionConfig = Pick<ControlConfig, 'RETENTION_CONTENT_DAYS' | 'RETENTION_AUDIT_DAYS' | 'RECORDINGS_DIR' | 'DATA_DIR'>;

export interface RetentionResult {
  content_before: string;
  audit_before: string;
  transcript_segments: number;
  recordings: number;
  post_call: number;
  features: number;
  audit_rows: number;
}

export async function runRetention(db: Db, config: RetentionConfig, opts: { now?: Date; storage?: RecordingStorage } = {}): Promise<RetentionResult> {
  const now = opts.now ?? new Date();
  const storage = opts.storage ?? recordingStorageOf(config);
  const contentBefore = new Date(now.getTime() - config.RETENTION_CONTENT_DAYS * DAY_MS);
  const auditBefore = new Date(now.getTime() - config.RETENTION_AUDIT_DAYS * DAY_MS);
  // files first: a crash in between leaves rows naming missing files (deletes tolerate that), never orphan audio
  const recs = await db.sql<{ rec_storage_key: string }[]>`select rec_storage_key from retention_expired_recordings(${contentBefore})`;
  for (const r of recs) await storage.delete(r.rec_storage_key);
  const [c] = await db.sql<{ transcripts: string; recordings: string; postcall: string; features: string }[]>`
    select * from retention_purge_content(${contentBefore})`;
  const [a] = await db.sql<{ n: string }[]>`select audit_prune(${auditBefore}) as n`;
  return {
    content_before: contentBefore.toISOString(), audit_before: auditBefore.toISOString(),
    transcript_segments: Number(c!.transcripts), recordings: Number(c!.recordings), post_call: Number(c!.postcall), features: Number(c!.features),
    audit_rows: Number(a!.n),
  };
}

/** The in-process schedule; returns a stop function. Off unless RETENTION_INTERVAL_MIN > 0. */
export function startRetentionSchedule(db: Db, config: RetentionConfig & Pick<ControlConfig, 'RETENTION_INTERVAL_MIN'>, logger: Logger): () => Promise<void> {
  if (config.RETENTION_INTERVAL_MIN <= 0) return async () => {};
  let running: Promise<unknown> | null = null;
  const tick = () => {
    if (running) return; // a slow run is never overlapped by the next
    running = runRetention(db, config)
      .then((r) => logger.info({ retention: r }, 'retention run finished'))
      .catch((err) => logger.error({ err }, 'retention run failed'))
      .finally(() => { running = null; });
  };
  const timer = setInterval(tick, config.RETENTION_INTERVAL_MIN * 60_000);
  timer.unref();
  tick();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
