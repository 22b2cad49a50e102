/** Telephony: tenant phone numbers (Twilio), outbound calls. */
import { z } from 'zod';
import { AgentConfig, ProviderName } from '../token.ts';
import { Id, Timestamp } from './common.ts';

export const E164 = z.string().regex(/^\+[1-9]\d{6,14}$/, 'an E.164 number such as +14155550100');
export const ConsentPolicy = z.enum(['notice_and_allow', 'reject']);

export const PhoneNumberCreate = z.object({
  number: E164,
  provider: ProviderName,
  agent: AgentConfig.default({}),
  /** a caller without the required consents: hear `notice_text` and continue, or hear `reject_text` and be hung up on */
  consent_policy: ConsentPolicy.default('reject'),
  notice_text: z.string().min(1).max(1000).default('This call is handled by an AI assistant and processed by our providers. By staying on the line you agree.'),
  reject_text: z.string().min(1).max(1000).default('Sorry, we cannot take this call without your prior consent. Goodbye.'),
  notice_version: z.string().min(1).max(50).default('v1'),
  max_duration_s: z.number().int().min(10).max(4 * 3600).optional(),
}).strict();
export const PhoneNumberUpdate = PhoneNumberCreate.omit({ number: true }).partial().strict();

export const PhoneNumberView = z.object({
  id: Id,
  number: z.string(),
  provider: ProviderName,
  agent: AgentConfig,
  consent_policy: ConsentPolicy,
  notice_text: z.string(),
  reject_text: z.string(),
  notice_version: z.string(),
  max_duration_s: z.number().int().nullable(),
  created_at: Timestamp,
});
export const PhoneNumberList = z.object({ data: z.array(PhoneNumberView) });

export const CallCreate = z.object({
  to: E164,
  /** one of the tenant's registered numbers */
  from: E164,
  /** overrides the number's agent config */
  agent: AgentConfig.optional(),
}).strict();
export const CallView = z.object({ call_sid: z.string(), session_id: Id, status: z.string() });
