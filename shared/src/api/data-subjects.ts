/** Data-subject rights: export (everything held about a subject) and erasure. */
import { z } from 'zod';

export const SubjectExport = z.object({
  subject: z.object({ kind: z.enum(['user', 'external']), ref: z.string() }),
  pseudonym: z.string().nullable(),
  exported_at: z.string(),
  profile: z.unknown(),
  consents: z.array(z.unknown()),
  sessions: z.array(z.unknown()),
  calls: z.array(z.unknown()),
  /** decrypted transcript segments by session id */
  transcripts: z.record(z.string(), z.array(z.unknown())),
  post_call: z.array(z.unknown()),
  recordings: z.array(z.unknown()),
  features: z.array(z.unknown()),
  ledger: z.array(z.unknown()),
  audit: z.array(z.unknown()),
});

export const ErasureReport = z.object({
  pseudonym: z.string().nullable(),
  sessions: z.number().int(),
  transcript_segments: z.number().int(),
  recordings: z.number().int(),
  post_call: z.number().int(),
  features: z.number().int(),
  consent_records: z.number().int(),
});
