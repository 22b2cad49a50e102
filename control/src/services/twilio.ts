/**
 * Twilio call setup. Inbound: the voice webhook (signature verified against PUBLIC_CONTROL_URL) finds
 * the tenant by the called number, applies the number's consent policy to the caller (external id =
 * caller number), creates the session and answers TwiML `<Connect><Stream>` whose URL carries no
 * query string; the session token travels in `<Parameter name="token">` (PROTOCOLS.md 1.1).
 * Outbound: the same TwiML placed through twilio's REST client, whose base URL is configurable.
 * Status callbacks update the call leg and end the session when the call ends.
 */
import { createHash } from 'node:crypto';
import twilio from 'twilio';
import { newId } from '../../../shared/src/ids.ts';
import { AppError } from '../../../shared/src/errors.ts';
import type { AgentConfig, ProviderName } from '../../../shared/src/token.ts';
import type { Permission } from '../../../shared/src/api/common.ts';
import type { EndReason } from '../../../shared/src/bus/index.ts';
import { withTenant, type Db, type Tx } from '../db/client.ts';
import type { ControlConfig } from '../config.ts';
import type { Actor, ControlDeps, Principal } from '../types.ts';
import { appendAudit } from './audit.ts';
import { tokenParameters } from '../../../shared/src/protocol/twilio-token.ts';
import { grantedPurposes } from './consents.ts';
import { createSession, markSessionEnded } from './sessions.ts';

const LOCAL_PROVIDERS = new Set(['echo']);
const SYSTEM: Actor = { type: 'system', id: null, requestId: null };

export type TwilioParams = Record<string, string | string[]>;

/** Parse an application/x-www-form-urlencoded body into Twilio's params shape (repeated keys -> arrays). */
export function parseForm(raw: string): TwilioParams {
  const out: TwilioParams = {};
  for (const [k, v] of new URLSearchParams(raw)) {
    const cur = out[k];
    if (cur === undefined) out[k] = v;
    else if (Array.isArray(cur)) cur.push(v);
    else out[k] = [cur, v];
  }
  return out;
}

function one(p: TwilioParams, k: string): string | undefined {
  const v = p[k];
  return Array.isArray(v) ? v[0] : v;
}

/** Verify X-Twilio-Signature over the public URL Twilio requested (config + path and query). */
export function verifyTwilioSignature(config: Pick<ControlConfig, 'TWILIO_AUTH_TOKEN' | 'PUBLIC_CONTROL_URL'>, signature: string | undefined,
  originalUrl: string, params: TwilioParams): void {
  if (!config.TWILIO_AUTH_TOKEN) throw new AppError('SIGNATURE_INVALID', 'Twilio is not configured (TWILIO_AUTH_TOKEN)');
  if (!signature) throw new AppError('SIGNATURE_INVALID', 'X-Twilio-Signature is missing');
  const url = config.PUBLIC_CONTROL_URL.replace(/\/+$/, '') + originalUrl;
  if (!twilio.validateRequest(config.TWILIO_AUTH_TOKEN, signature, url, params)) throw new AppError('SIGNATURE_INVALID');
}

interface NumberRow {
  id: string; number: string; provider: ProviderName; agent: AgentConfig; consent_policy: 'notice_and_allow' | 'reject';
  notice_text: string; reject_text: string; notice_version: string; max_duration_s: number | null;
}
const NUMBER_COLUMNS = 'id, number, provider, agent, consent_policy, notice_text, reject_text, notice_version, max_duration_s';

/** The principal a webhook acts as inside its tenant: may create sessions, nothing else. */
function webhookPrincipal(tenantId: string, name: string): Principal {
  return { kind: 'api_key', tenantId, keyId: `system:${name}`, name, permissions: new Set<Permission>(['sessions:create']) };
}

function requiredPurposes(provider: string): string[] {
  return LOCAL_PROVIDERS.has(provider) ? ['voice_processing'] : ['voice_processing', `provider:${provider}`];
}

/**
 * Apply the number's consent policy to a caller/callee. Returns the purposes granted by notice now
 * (recorded as consents with the notice's version and text hash), or null when the call must be rejected.
 */
async function applyConsentPolicy(tx: Tx, tenantId: string, n: NumberRow, externalId: string, callSid: string): Promise<string[] | null> {
  const granted = (await grantedPurposes(tx, tenantId, [{ kind: 'external', ref: externalId }])).get(`external:${externalId}`)!;
  const missing = requiredPurposes(n.provider).filter((x) => !granted.has(x));
  if (missing.length === 0) return [];
  if (n.consent_policy === 'reject') {
    await appendAudit(tx, tenantId, SYSTEM, { action: 'twilio.call_rejected', targetType: 'twilio_call', targetId: callSid, data: { missing } });
    return null;
  }
  const sha = createHash('sha256').update(n.notice_text, 'utf8').digest('hex');
  for (const purpose of missing) {
    await tx`insert into consent_records (id, tenant_id, subject_kind, subject_ref, purpose, granted, version, text_sha256, actor_type, actor_id, request_id)
      values (${newId()}, ${tenantId}, 'external', ${externalId}, ${purpose}, true, ${n.notice_version}, ${sha}, 'system', ${`twilio:${callSid}`}, null)`;
    await appendAudit(tx, tenantId, SYSTEM, {
      action: 'consent.granted', targetType: 'subject:external', targetId: externalId,
      data: { purpose, version: n.notice_version, text_sha256: sha, basis: 'spoken_notice', call_sid: callSid },
    });
  }
  return missing;
}

export function streamTwiml(config: Pick<ControlConfig, 'PUBLIC_GATEWAY_URL' | 'PUBLIC_CONTROL_URL'>, token: string, notice?: string): string {
  const vr = new twilio.twiml.VoiceResponse();
  if (notice) vr.say(notice);
  const stream = vr.connect().stream({
    // no query string: Twilio strips it (PROTOCOLS.md 1.1); per-call data goes in <Parameter>
    url: config.PUBLIC_GATEWAY_URL.replace(/\/+$/, '') + '/v1/twilio/media',
    statusCallback: config.PUBLIC_CONTROL_URL.replace(/\/+$/, '') + '/v1/twilio/status',
  });
  // a JWT is longer than one <Parameter> may be: split it (the gateway joins the parts)
  for (const p of tokenParameters(token)) stream.parameter(p);
  return vr.toString();
}

export function sayAndHangup(text: string): string {
  const vr = new twilio.twiml.VoiceResponse();
  vr.say(text);
  vr.hangup();
  return vr.toString();
}

type Deps = Pick<ControlDeps, 'db' | 'config' | 'signingKey'>;

/** POST /v1/twilio/voice (signature already verified): returns TwiML. */
export async function inboundCall(deps: Deps, params: TwilioParams): Promise<string> {
  const to = one(params, 'To');
  const from = one(params, 'From');
  const callSid = one(params, 'CallSid');
  if (!to || !from || !callSid) throw new AppError('VALIDATION_FAILED', 'To, From and CallSid are required');
  const [t] = await deps.db.sql<{ t: string | null }[]>`select phone_number_tenant(${to}) as t`;
  const tenantId = t?.t;
  if (!tenantId) return sayAndHangup('The number you called is not in service. Goodbye.');

  const decided = await withTenant(deps.db, tenantId, async (tx) => {
    const [n] = await tx<NumberRow[]>`select ${tx.unsafe(NUMBER_COLUMNS)} from phone_numbers where tenant_id = ${tenantId} and number = ${to}`;
    const byNotice = await applyConsentPolicy(tx, tenantId, n!, from, callSid);
    return { n: n!, byNotice };
  });
  if (decided.byNotice === null) return sayAndHangup(decided.n.reject_text);
  const { n } = decided;
  let created;
  try {
    created = await createSession(deps, webhookPrincipal(tenantId, 'twilio'), { ...SYSTEM, id: 'twilio' }, {
      provider: n.provider, agent: n.agent, participant: { external_id: from }, transport: 'twilio', recording: false,
      ...(n.max_duration_s ? { max_duration_s: n.max_duration_s } : {}), metadata: { call_sid: callSid, direction: 'inbound' },
    });
  } catch (e) {
    if (e instanceof AppError && (e.code === 'INSUFFICIENT_CREDIT' || e.code === 'CONSENT_REQUIRED')) {
      return sayAndHangup('Sorry, this service is not available right now. Goodbye.');
    }
    throw e;
  }
  await withTenant(deps.db, tenantId, async (tx) => {
    await tx`insert into twilio_calls (call_sid, tenant_id, session_id, direction, from_number, to_number, status)
      values (${callSid}, ${tenantId}, ${created.session_id}, 'inbound', ${from}, ${to}, ${one(params, 'CallStatus') ?? 'ringing'})
      on conflict (call_sid) do nothing`;
  });
  return streamTwiml(deps.config, created.token, decided.byNotice.length ? n.notice_text : undefined);
}

/** Twilio call statuses that end the call, and the session end reason each maps to. */
const CALL_END: Record<string, EndReason> = { completed: 'completed', busy: 'error', failed: 'error', 'no-answer': 'error', canceled: 'client_closed' };

/** POST /v1/twilio/status (signature already verified): call and stream status callbacks. */
export async function callStatus(db: Db, params: TwilioParams): Promise<{ updated: boolean }> {
  const callSid = one(params, 'CallSid');
  if (!callSid) throw new AppError('VALIDATION_FAILED', 'CallSid is required');
  const [t] = await db.sql<{ t: string | null }[]>`select twilio_call_tenant(${callSid}) as t`;
  const tenantId = t?.t;
  if (!tenantId) return { updated: false };
  const callStatus = one(params, 'CallStatus');
  const streamEvent = one(params, 'StreamEvent');
  const row = await withTenant(db, tenantId, async (tx) => {
    const [r] = await tx<{ session_id: string | null }[]>`update twilio_calls set
        status = coalesce(${callStatus ?? null}, status), stream_status = coalesce(${streamEvent ?? null}, stream_status), updated_at = now()
      where tenant_id = ${tenantId} and call_sid = ${callSid} returning session_id`;
    if (streamEvent === 'stream-error') {
      await appendAudit(tx, tenantId, SYSTEM, { action: 'twilio.stream_error', targetType: 'twilio_call', targetId: callSid, data: { error: one(params, 'StreamError') ?? null } });
    }
    return r;
  });
  const reason = callStatus ? CALL_END[callStatus] : undefined;
  if (row?.session_id && reason) await markSessionEnded(db, { tenantId, sessionId: row.session_id, reason });
  return { updated: true };
}

// ---- outbound ----

/** Move a https://*.twilio.com URL onto `base` (scheme, host, path prefix), keeping path and query. */
export function rebaseUrl(uri: string, base: string): string {
  const u = new URL(uri);
  const b = new URL(base);
  u.protocol = b.protocol;
  u.host = b.host;
  u.pathname = b.pathname.replace(/\/+$/, '') + u.pathname;
  return u.toString();
}

/** twilio's own RequestClient (auth, form encoding, user agent unchanged), sending to TWILIO_API_BASE_URL. */
function rebasedRequestClient(base: string): twilio.RequestClient {
  const rc = new twilio.RequestClient();
  const send = rc.request.bind(rc);
  rc.request = ((opts: Parameters<typeof send>[0]) => send({ ...opts, uri: rebaseUrl(opts.uri, base) })) as typeof rc.request;
  return rc;
}

const clients = new WeakMap<object, twilio.Twilio>();
export function twilioClientOf(config: Pick<ControlConfig, 'TWILIO_ACCOUNT_SID' | 'TWILIO_AUTH_TOKEN' | 'TWILIO_API_BASE_URL'>): twilio.Twilio {
  if (!config.TWILIO_ACCOUNT_SID || !config.TWILIO_AUTH_TOKEN) throw new AppError('UNAVAILABLE', 'Twilio is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)');
  let c = clients.get(config);
  if (!c) {
    const opts: twilio.ClientOpts = config.TWILIO_API_BASE_URL === 'https://api.twilio.com' ? {} : { httpClient: rebasedRequestClient(config.TWILIO_API_BASE_URL) };
    c = twilio(config.TWILIO_ACCOUNT_SID, config.TWILIO_AUTH_TOKEN, opts);
    clients.set(config, c);
  }
  return c;
}

/** POST /v1/calls: place an outbound call bridged to a new session. */
export async function placeCall(deps: Deps, p: Principal, actor: Actor, input: { to: string; from: string; agent?: AgentConfig }) {
  const client = twilioClientOf(deps.config);
  const n = await withTenant(deps.db, p.tenantId, async (tx) => {
    const [r] = await tx<NumberRow[]>`select ${tx.unsafe(NUMBER_COLUMNS)} from phone_numbers where tenant_id = ${p.tenantId} and number = ${input.from}`;
    if (!r) throw new AppError('NOT_FOUND', 'from is not one of this tenant\'s registered numbers');
    return r;
  });
  const created = await createSession(deps, p, actor, {
    provider: n.provider, agent: input.agent ?? n.agent, participant: { external_id: input.to }, transport: 'twilio', recording: false,
    ...(n.max_duration_s ? { max_duration_s: n.max_duration_s } : {}), metadata: { direction: 'outbound' },
  });
  let call;
  try {
    call = await client.calls.create({
      to: input.to, from: input.from, twiml: streamTwiml(deps.config, created.token),
      statusCallback: deps.config.PUBLIC_CONTROL_URL.replace(/\/+$/, '') + '/v1/twilio/status',
      statusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
    });
  } catch (e) {
    await markSessionEnded(deps.db, { tenantId: p.tenantId, sessionId: created.session_id, reason: 'error' });
    const ex = e as { status?: number; code?: number; message?: string };
    throw new AppError('PROVIDER_ERROR', 'Twilio refused the call', { status: ex.status ?? null, code: ex.code ?? null, message: ex.message ?? null });
  }
  await withTenant(deps.db, p.tenantId, async (tx) => {
    await tx`insert into twilio_calls (call_sid, tenant_id, session_id, direction, from_number, to_number, status)
      values (${call.sid}, ${p.tenantId}, ${created.session_id}, 'outbound', ${input.from}, ${input.to}, ${call.status ?? 'queued'})`;
    await appendAudit(tx, p.tenantId, actor, { action: 'twilio.call_placed', targetType: 'session', targetId: created.session_id, data: { call_sid: call.sid } });
  });
  return { call_sid: call.sid, session_id: created.session_id, status: String(call.status ?? 'queued') };
}

// ---- phone numbers ----

function numberView(r: NumberRow & { created_at: Date }) {
  return { ...r, created_at: r.created_at.toISOString() };
}

export async function createPhoneNumber(db: Db, p: Principal, actor: Actor, input: Omit<NumberRow, 'id' | 'max_duration_s'> & { max_duration_s?: number }) {
  return withTenant(db, p.tenantId, async (tx) => {
    const [taken] = await tx<{ t: string | null }[]>`select phone_number_tenant(${input.number}) as t`;
    if (taken?.t) throw new AppError('CONFLICT', 'this number is already registered');
    const [r] = await tx<(NumberRow & { created_at: Date })[]>`insert into phone_numbers
        (id, tenant_id, number, provider, agent, consent_policy, notice_text, reject_text, notice_version, max_duration_s)
      values (${newId()}, ${p.tenantId}, ${input.number}, ${input.provider}, ${tx.json(input.agent as never)}, ${input.consent_policy},
              ${input.notice_text}, ${input.reject_text}, ${input.notice_version}, ${input.max_duration_s ?? null})
      returning ${tx.unsafe(NUMBER_COLUMNS)}, created_at`;
    await appendAudit(tx, p.tenantId, actor, { action: 'phone_number.created', targetType: 'phone_number', targetId: r!.id, data: { number: input.number } });
    return numberView(r!);
  });
}

export async function listPhoneNumbers(db: Db, p: Principal) {
  const rows = await withTenant(db, p.tenantId, (tx) => tx<(NumberRow & { created_at: Date })[]>`
    select ${tx.unsafe(NUMBER_COLUMNS)}, created_at from phone_numbers where tenant_id = ${p.tenantId} order by id desc`);
  return { data: rows.map(numberView) };
}

export async function getPhoneNumber(db: Db, p: Principal, id: string) {
  const [r] = await withTenant(db, p.tenantId, (tx) => tx<(NumberRow & { created_at: Date })[]>`
    select ${tx.unsafe(NUMBER_COLUMNS)}, created_at from phone_numbers where tenant_id = ${p.tenantId} and id = ${id}`);
  if (!r) throw new AppError('NOT_FOUND', 'no such phone number');
  return numberView(r);
}

export async function updatePhoneNumber(db: Db, p: Principal, actor: Actor, id: string, patch: Partial<Omit<NumberRow, 'id' | 'number'>>) {
  return withTenant(db, p.tenantId, async (tx) => {
    const [cur] = await tx<(NumberRow & { created_at: Date })[]>`select ${tx.unsafe(NUMBER_COLUMNS)}, created_at from phone_numbers where tenant_id = ${p.tenantId} and id = ${id}`;
    if (!cur) throw new AppError('NOT_FOUND', 'no such phone number');
    const next = { ...cur, ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) } as NumberRow & { created_at: Date };
    const [r] = await tx<(NumberRow & { created_at: Date })[]>`update phone_numbers set provider = ${next.provider}, agent = ${tx.json(next.agent as never)},
        consent_policy = ${next.consent_policy}, notice_text = ${next.notice_text}, reject_text = ${next.reject_text}, notice_version = ${next.notice_version},
        max_duration_s = ${next.max_duration_s ?? null}
      where tenant_id = ${p.tenantId} and id = ${id} returning ${tx.unsafe(NUMBER_COLUMNS)}, created_at`;
    await appendAudit(tx, p.tenantId, actor, { action: 'phone_number.updated', targetType: 'phone_number', targetId: id, data: { fields: Object.keys(patch) } });
    return numberView(r!);
  });
}

export async function deletePhoneNumber(db: Db, p: Principal, actor: Actor, id: string): Promise<void> {
  await withTenant(db, p.tenantId, async (tx) => {
    const r = await tx`delete from phone_numbers where tenant_id = ${p.tenantId} and id = ${id} returning id`;
    if (!r.length) throw new AppError('NOT_FOUND', 'no such phone number');
    await appendAudit(tx, p.tenantId, actor, { action: 'phone_number.deleted', targetType: 'phone_number', targetId: id });
  });
}
