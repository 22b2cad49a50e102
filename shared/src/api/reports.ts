/** Session reports, transcripts, recordings and the CSV export. */
import { z } from 'zod';
import { FeaturesSummary } from '../features.ts';
import { ConsentPurpose, ProviderName, TransportName } from '../token.ts';
import { Id, Timestamp } from './common.ts';
import { SessionStatus } from './sessions.ts';

export const SessionReport = z.object({
  session_id: Id,
  status: SessionStatus,
  provider: ProviderName,
  transport: TransportName,
  created_at: Timestamp,
  started_at: Timestamp.nullable(),
  ended_at: Timestamp.nullable(),
  end_reason: z.string().nullable(),
  /** ended (or now) minus started, seconds; null before the session started */
  duration_s: z.number().nullable(),
  billed_seconds: z.number(),
  cost_micro: z.number().int(),
  /** participant ids; masked unless the caller may see personal data */
  participants: z.array(z.string()),
  /** the purposes granted when the session was admitted */
  consent_snapshot: z.array(ConsentPurpose),
  transcript: z.object({ stored: z.boolean(), segments: z.number().int() }),
  recordings: z.number().int(),
  post_call: z.object({ available: z.boolean(), provider: z.string().nullable(), received_at: Timestamp.nullable() }),
  /** the gateway's features summary once it has arrived; null until then */
  features: FeaturesSummary.nullable(),
});

export const ReportCsvQuery = z.object({
  from: Timestamp.optional(),
  to: Timestamp.optional(),
});

export const TranscriptSegmentView = z.object({
  id: Id,
  role: z.enum(['user', 'agent']),
  text: z.string(),
  participant: z.string().nullable().optional(),
  start_ms: z.number().int(),
  end_ms: z.number().int(),
  created_at: Timestamp,
});
export const TranscriptView = z.object({ session_id: Id, stored: z.boolean(), segments: z.array(TranscriptSegmentView) });

export const RecordingView = z.object({ id: Id, session_id: Id, content_type: z.string(), bytes: z.number().int(), sha256: z.string(), created_at: Timestamp });
export const RecordingList = z.object({ data: z.array(RecordingView) });
