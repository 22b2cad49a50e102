/**
 * Bus message schemas: commands control -> gateway (pub/sub) and events gateway -> control
 * (durable streams). Every event carries a unique time-ordered id, the session id, the gateway pod id
 * and a timestamp, so consumers can apply each exactly once.
 */
import { z } from 'zod';

export const END_REASONS = [
  'client_closed', 'completed', 'max_duration', 'draining', 'provider_lost', 'provider_error', 'error',
  'credit_exhausted', 'consent_withdrawn', 'terminated_by_operator', 'gateway_lost', 'idle_timeout',
] as const;
export const EndReason = z.enum(END_REASONS);
export type EndReason = z.infer<typeof EndReason>;

export const TerminateReason = z.enum(['credit_exhausted', 'consent_withdrawn', 'terminated_by_operator']);
export type TerminateReason = z.infer<typeof TerminateReason>;

export const GatewayCommand = z.discriminatedUnion('type', [
  z.object({ type: z.literal('terminate'), id: z.string(), session_id: z.string(), reason: TerminateReason, ts: z.number() }),
  z.object({ type: z.literal('inject'), id: z.string(), session_id: z.string(), text: z.string().max(8000), ts: z.number() }),
]);
export type GatewayCommand = z.infer<typeof GatewayCommand>;

const base = { id: z.string(), session_id: z.string(), tenant_id: z.string(), pod_id: z.string(), ts: z.number() };

export const UsageTotals = z.object({
  /** seconds of caller audio received */
  seconds_in: z.number().nonnegative(),
  /** seconds of agent audio sent to the client */
  seconds_out: z.number().nonnegative(),
  /** seconds the provider connection was open */
  provider_seconds: z.number().nonnegative(),
});
export type UsageTotals = z.infer<typeof UsageTotals>;

export const GatewayEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('session.started'), ...base, participant: z.string(), provider: z.string(), transport: z.string() }),
  /** usage since the previous tick of this session (deltas, so each tick is billed once by its id) */
  z.object({ type: z.literal('usage.tick'), ...base, seq: z.number().int().nonnegative(), delta: UsageTotals, final: z.boolean() }),
  z.object({ type: z.literal('transcript.final'), ...base, participant: z.string(), role: z.enum(['user', 'agent']), text: z.string(), start_ms: z.number(), end_ms: z.number() }),
  z.object({ type: z.literal('features.summary'), ...base, summary: z.unknown() }),
  z.object({ type: z.literal('tool.call'), ...base, name: z.string(), ok: z.boolean(), duration_ms: z.number() }),
  z.object({ type: z.literal('session.ended'), ...base, reason: EndReason, totals: UsageTotals }),
]);
export type GatewayEvent = z.infer<typeof GatewayEvent>;
export type GatewayEventType = GatewayEvent['type'];
