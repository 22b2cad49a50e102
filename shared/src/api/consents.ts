import { z } from 'zod';
import { ConsentPurpose } from '../token.ts';
import { Id, SubjectRef, Timestamp } from './common.ts';

export const SubjectQuery = z.object({
  external_id: z.string().min(1).max(200).optional(),
  user_id: Id.optional(),
});

export const GrantConsentRequest = z.object({
  subject: SubjectRef.optional(),
  /** version of the consent text shown */
  version: z.string().min(1).max(50),
  /** sha256 (hex) of the exact text shown to the data subject */
  text_sha256: z.string().regex(/^[0-9a-f]{64}$/),
}).strict();

export const ConsentRecord = z.object({
  id: Id,
  purpose: ConsentPurpose,
  granted: z.boolean(),
  version: z.string().nullable(),
  text_sha256: z.string().nullable(),
  created_at: Timestamp,
});
export type ConsentRecord = z.infer<typeof ConsentRecord>;

export const ConsentSubject = z.object({ kind: z.enum(['user', 'external']), ref: z.string() });

export const ConsentState = z.object({
  subject: ConsentSubject,
  /** latest record per purpose */
  current: z.array(ConsentRecord),
  /** every record, newest first */
  history: z.array(ConsentRecord),
});
