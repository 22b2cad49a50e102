import { z } from 'zod';
import { AgentConfig, ConsentPurpose, ProviderName, TransportName } from '../token.ts';
import { Id, SubjectRef, Timestamp } from './common.ts';

export const SESSION_STATES = ['created', 'active', 'ended', 'failed', 'terminated'] as const;
export const SessionStatus = z.enum(SESSION_STATES);
export type SessionStatus = z.infer<typeof SessionStatus>;

export const CreateSessionRequest = z.object({
  provider: ProviderName,
  agent: AgentConfig.default({}),
  /** the data subject who joins; defaults to the calling user */
  participant: SubjectRef.optional(),
  /** several participants of one session (couples coaching); exclusive with `participant` */
  participants: z.array(SubjectRef).min(1).max(16).optional(),
  transport: TransportName.default('web'),
  /** ask for recording; refused unless `recording` consent is granted */
  recording: z.boolean().default(false),
  max_duration_s: z.number().int().min(10).max(4 * 3600).optional(),
  metadata: z.record(z.string(), z.union([z.string().max(500), z.number(), z.boolean(), z.null()])).default({})
    .refine((m) => Object.keys(m).length <= 32, 'at most 32 metadata keys'),
}).strict();
export type CreateSessionRequest = z.infer<typeof CreateSessionRequest>;

export const ParticipantToken = z.object({ participant: z.string(), token: z.string() });

export const CreateSessionResponse = z.object({
  session_id: Id,
  gateway_url: z.string(),
  /** token for the first participant */
  token: z.string(),
  /** one token per participant, first one included */
  tokens: z.array(ParticipantToken),
  expires_at: Timestamp,
  purposes: z.array(ConsentPurpose),
});

export const SessionView = z.object({
  id: Id,
  status: SessionStatus,
  provider: ProviderName,
  transport: TransportName,
  participants: z.array(z.string()),
  agent: AgentConfig,
  purposes: z.array(ConsentPurpose),
  metadata: z.record(z.string(), z.unknown()),
  max_duration_s: z.number().int(),
  created_at: Timestamp,
  started_at: Timestamp.nullable(),
  ended_at: Timestamp.nullable(),
  end_reason: z.string().nullable(),
});
export type SessionView = z.infer<typeof SessionView>;

export const SessionListQuery = z.object({
  status: SessionStatus.optional(),
  created_after: Timestamp.optional(),
  created_before: Timestamp.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});
export const SessionList = z.object({ data: z.array(SessionView), next_cursor: z.string().nullable() });

export const SessionTokenRequest = z.object({ participant: z.string().min(1).max(200) }).strict();
export const SessionTokenResponse = z.object({ participant: z.string(), token: z.string(), gateway_url: z.string(), expires_at: Timestamp });
