/**
 * Agent tools. Built-in `astro.natal_chart` (Swiss Ephemeris via native-bindings/swisseph.ts) and
 * tenant-defined HTTP tools (URL, JSON Schema of the arguments, HMAC secret, timeout). The gateway
 * calls `POST /internal/tools/:name` with the service credential and the session id; arguments are
 * validated (422 naming the field), the session's agent must list the tool, and every call is audited.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { newId } from '../../../shared/src/ids.ts';
import { AppError } from '../../../shared/src/errors.ts';
import { NatalChartInput, natalChart } from '../../../native-bindings/swisseph.ts';
import { withTenant, type Db } from '../db/client.ts';
import type { ControlConfig } from '../config.ts';
import type { Actor, Principal } from '../types.ts';
import { appendAudit } from './audit.ts';
import { sessionTenant } from './billing.ts';
import { decryptFor, encryptFor, keyringOf } from './envelope.ts';
import type { KeyConfig } from './transcripts.ts';
import { egressPost, EgressBlockedError, type EgressPolicy, type EgressResponse } from './egress.ts';

interface BuiltinTool { name: string; description: string; schema: z.ZodType; run(args: unknown): unknown }

const BUILTINS: ReadonlyMap<string, BuiltinTool> = new Map([
  ['astro.natal_chart', {
    name: 'astro.natal_chart',
    description: 'Natal chart for a birth date and UTC time at a place: planets, signs, houses (Placidus), aspects.',
    schema: NatalChartInput,
    run: (args: unknown) => natalChart(args as NatalChartInput),
  }],
]);

const TOOL_AUDITOR: Actor = { type: 'system', id: 'gateway', requestId: null };

/** Constant-time check of the gateway's Bearer service credential. */
export function checkServiceToken(config: Pick<ControlConfig, 'CONTROL_SERVICE_TOKEN'>, authorization: string | undefined): void {
  const expected = config.CONTROL_SERVICE_TOKEN;
  if (!expected) throw new AppError('UNAUTHENTICATED', 'the internal tool endpoint is disabled (CONTROL_SERVICE_TOKEN is not set)');
  const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  const given = Buffer.from(m?.[1] ?? '', 'utf8');
  const want = Buffer.from(expected, 'utf8');
  if (given.length !== want.length || !timingSafeEqual(given, want)) throw new AppError('UNAUTHENTICATED', 'a valid service credential is required');
}

function validateArgs(schema: z.ZodType, args: unknown): unknown {
  const r = schema.safeParse(args);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({ field: i.path.join('.') || '(args)', message: i.message }));
  throw new AppError('UNPROCESSABLE', `invalid tool arguments: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`, { issues });
}

/** The JSON Schema of a tenant tool as a zod validator; a schema zod cannot read is a 400 at creation. */
function schemaFromJson(json: unknown): z.ZodType {
  try {
    return z.fromJSONSchema(json as Parameters<typeof z.fromJSONSchema>[0]);
  } catch (e) {
    throw new AppError('VALIDATION_FAILED', 'args_schema is not a usable JSON Schema', { reason: (e as Error).message });
  }
}

function toolAad(tenantId: string, name: string): string {
  return `tool:${tenantId}:${name}`;
}

interface ToolRow {
  id: string; name: string; description: string; url: string; args_schema: Record<string, unknown>; timeout_ms: number;
  secret_key_id: string; secret_nonce: Buffer; secret_ciphertext: Buffer; created_at: Date;
}

function builtinView(t: BuiltinTool) {
  return { id: null, name: t.name, kind: 'builtin' as const, description: t.description, url: null, args_schema: z.toJSONSchema(t.schema, { io: 'input', unrepresentable: 'any' }), timeout_ms: null, created_at: null };
}
function httpView(r: ToolRow) {
  return { id: r.id, name: r.name, kind: 'http' as const, description: r.description, url: r.url, args_schema: r.args_schema, timeout_ms: r.timeout_ms, created_at: r.created_at.toISOString() };
}

export async function listTools(db: Db, p: Principal) {
  const rows = await withTenant(db, p.tenantId, (tx) => tx<ToolRow[]>`select * from tools where tenant_id = ${p.tenantId} order by name`);
  return { data: [...[...BUILTINS.values()].map(builtinView), ...rows.map(httpView)] };
}

export async function createTool(db: Db, config: KeyConfig & Pick<ControlConfig, 'TOOL_TIMEOUT_MAX_MS'>, p: Principal, actor: Actor,
  input: { name: string; description: string; url: string; args_schema: Record<string, unknown>; secret: string; timeout_ms: number }) {
  if (input.args_schema.type !== 'object') throw new AppError('VALIDATION_FAILED', 'args_schema must describe an object ("type": "object")');
  schemaFromJson(input.args_schema);
  const ring = await keyringOf(config);
  return withTenant(db, p.tenantId, async (tx) => {
    const enc = await encryptFor(tx, ring, p.tenantId, Buffer.from(input.secret, 'utf8'), toolAad(p.tenantId, input.name));
    const [r] = await tx<ToolRow[]>`insert into tools (id, tenant_id, name, description, url, args_schema, timeout_ms, secret_key_id, secret_nonce, secret_ciphertext)
      values (${newId()}, ${p.tenantId}, ${input.name}, ${input.description}, ${input.url}, ${tx.json(input.args_schema as never)},
              ${Math.min(input.timeout_ms, config.TOOL_TIMEOUT_MAX_MS)}, ${enc.keyId}, ${enc.nonce}, ${enc.ciphertext})
      on conflict (tenant_id, name) do nothing returning *`;
    if (!r) throw new AppError('CONFLICT', 'a tool with this name exists');
    await appendAudit(tx, p.tenantId, actor, { action: 'tool.created', targetType: 'tool', targetId: r.id, data: { name: input.name, url: input.url } });
    return httpView(r);
  });
}

export async function deleteTool(db: Db, p: Principal, actor: Actor, id: string): Promise<void> {
  await withTenant(db, p.tenantId, async (tx) => {
    const r = await tx`delete from tools where tenant_id = ${p.tenantId} and id = ${id} returning name`;
    if (!r.length) throw new AppError('NOT_FOUND', 'no such tool');
    await appendAudit(tx, p.tenantId, actor, { action: 'tool.deleted', targetType: 'tool', targetId: id });
  });
}

/** X-Switchboard-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>, as tenant endpoints verify it. */
export function signToolRequest(secret: string, body: string, t = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

async function callHttpTool(row: ToolRow, secret: string, payload: { tool: string; session_id: string; call_id: string | null; args: unknown }, policy: EgressPolicy): Promise<unknown> {
  const body = JSON.stringify(payload);
  let res: EgressResponse;
  try {
    res = await egressPost(row.url, {
      body, timeoutMs: row.timeout_ms,
      headers: { 'content-type': 'application/json', 'x-switchboard-signature': signToolRequest(secret, body), 'user-agent': 'switchboard-tools/1' },
    }, policy);
  } catch (e) {
    if (e instanceof EgressBlockedError) throw new AppError('TOOL_FAILED', `tool ${row.name} may not be called: ${e.message}`, { reason: 'blocked' });
    const timeout = (e as Error).name === 'TimeoutError' || (e as Error).name === 'AbortError';
    throw new AppError('TOOL_FAILED', timeout ? `tool ${row.name} timed out after ${row.timeout_ms} ms` : `tool ${row.name} could not be reached`, { reason: timeout ? 'timeout' : 'network' });
  }
  if (res.status < 200 || res.status > 299) throw new AppError('TOOL_FAILED', `tool ${row.name} answered HTTP ${res.status}`, { reason: 'http_status', status: res.status });
  try {
    const parsed = JSON.parse(res.body) as unknown;
    // a tool may answer {result: ...} or the bare result
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) && 'result' in parsed ? (parsed as { result: unknown }).result : parsed;
  } catch {
    throw new AppError('TOOL_FAILED', `tool ${row.name} answered something that is not JSON`, { reason: 'invalid_response' });
  }
}

/**
 * POST /internal/tools/:name (service credential already checked). Returns {result}, or {error} with
 * code TOOL_FAILED when the tool failed; throws UNPROCESSABLE for bad arguments, NOT_FOUND / FORBIDDEN / CONFLICT
 * for an unknown tool, one the agent does not list, or a session that is not live. Audited either way.
 */
export async function callTool(deps: { db: Db; config: KeyConfig & Pick<ControlConfig, 'EGRESS_ALLOW_PRIVATE'> }, name: string, req: { session_id: string; call_id?: string; args: Record<string, unknown> }) {
  const tenantId = await sessionTenant(deps.db, req.session_id);
  if (!tenantId) throw new AppError('NOT_FOUND', 'no such session');
  const started = performance.now();
  let outcome: { ok: boolean; code?: string } = { ok: false, code: 'INTERNAL' };
  try {
    const ctx = await withTenant(deps.db, tenantId, async (tx) => {
      const [s] = await tx<{ status: string; agent: { tools?: string[] } }[]>`select status, agent from sessions where tenant_id = ${tenantId} and id = ${req.session_id}`;
      if (s!.status !== 'created' && s!.status !== 'active') throw new AppError('CONFLICT', `the session is ${s!.status}`);
      if (!(s!.agent.tools ?? []).includes(name)) throw new AppError('FORBIDDEN', `the session's agent does not list the tool ${name}`);
      if (BUILTINS.has(name)) return { builtin: BUILTINS.get(name)!, row: null, secret: null };
      const [row] = await tx<ToolRow[]>`select * from tools where tenant_id = ${tenantId} and name = ${name}`;
      if (!row) throw new AppError('NOT_FOUND', `no tool named ${name}`);
      const ring = await keyringOf(deps.config);
      const secret = (await decryptFor(tx, ring, tenantId, row.secret_key_id, row.secret_nonce, row.secret_ciphertext, toolAad(tenantId, name))).toString('utf8');
      return { builtin: null, row, secret };
    });
    let result: unknown;
    if (ctx.builtin) {
      result = ctx.builtin.run(validateArgs(ctx.builtin.schema, req.args));
    } else {
      const args = validateArgs(schemaFromJson(ctx.row!.args_schema), req.args);
      result = await callHttpTool(ctx.row!, ctx.secret!, { tool: name, session_id: req.session_id, call_id: req.call_id ?? null, args }, { allowPrivate: deps.config.EGRESS_ALLOW_PRIVATE });
    }
    outcome = { ok: true };
    return { result };
  } catch (e) {
    outcome = { ok: false, code: e instanceof AppError ? e.code : 'INTERNAL' };
    if (e instanceof AppError && e.code === 'TOOL_FAILED') return { error: { code: 'TOOL_FAILED' as const, message: e.message, details: e.details } };
    throw e;
  } finally {
    const duration_ms = Math.round(performance.now() - started);
    // arguments and results are not audited: they may carry personal data (birth data)
    await withTenant(deps.db, tenantId, (tx) => appendAudit(tx, tenantId, TOOL_AUDITOR, {
      action: 'tool.called', targetType: 'session', targetId: req.session_id, data: { tool: name, ok: outcome.ok, error: outcome.code ?? null, duration_ms },
    }));
  }
}
