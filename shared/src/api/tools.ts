/** Agent tools: built-ins and tenant-defined HTTP tools; the gateway's internal call endpoint. */
import { z } from 'zod';
import { Id, Timestamp } from './common.ts';

export const ToolName = z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/, 'lower-case letters, digits, _ . -; starts with a letter');

export const ToolCreate = z.object({
  name: ToolName.refine((n) => !n.startsWith('astro.'), 'the astro. prefix is reserved for built-in tools'),
  description: z.string().max(1000).default(''),
  /** the endpoint the control plane POSTs {tool, session_id, call_id, args} to */
  url: z.string().url().refine((u) => /^https?:\/\//.test(u), 'http(s) only'),
  /** JSON Schema (object) of the arguments; calls are validated against it */
  args_schema: z.record(z.string(), z.unknown()),
  /** HMAC-SHA256 key for the X-Switchboard-Signature header (t=<unix s>,v1=<hex over "t.body">) */
  secret: z.string().min(16).max(200),
  timeout_ms: z.number().int().min(100).max(60_000).default(5000),
}).strict();

export const ToolView = z.object({
  id: Id.nullable(),
  name: z.string(),
  kind: z.enum(['builtin', 'http']),
  description: z.string(),
  url: z.string().nullable(),
  args_schema: z.unknown(),
  timeout_ms: z.number().int().nullable(),
  created_at: Timestamp.nullable(),
});
export const ToolList = z.object({ data: z.array(ToolView) });

export const ToolCallRequest = z.object({
  session_id: Id,
  /** the provider's call id, echoed to HTTP tools */
  call_id: z.string().max(200).optional(),
  args: z.record(z.string(), z.unknown()).default({}),
}).strict();
/**
 * The tool ran: `{result}`. The tool itself failed (timeout, HTTP error, not JSON, unreachable):
 * `{error:{code:'TOOL_FAILED', message, details:{reason, status?}}}` with HTTP 200, so the gateway
 * can hand the failure to the model; request problems (credential, arguments, session) are 4xx problems.
 */
export const ToolCallResponse = z.union([
  z.object({ result: z.unknown() }),
  z.object({ error: z.object({ code: z.literal('TOOL_FAILED'), message: z.string(), details: z.unknown() }) }),
]);
