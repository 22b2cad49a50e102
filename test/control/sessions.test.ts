/** Sessions: consent-gated admission, token claims, JWKS verification, participants, listing, terminate via the bus, idempotency, state transitions. */
import t from 'tap';
import { createTokenVerifier, generateSigningKey, mintSessionToken } from '../../shared/src/token.ts';
import { markSessionActive, markSessionEnded } from '../../control/src/services/sessions.ts';
import { startTestControl, TEXT_SHA, TEST_PASSWORD, type TestControl } from '../helpers/control-app.ts';

async function grant(c: TestControl, token: string, purpose: string, external_id: string) {
  const r = await c.req('PUT', `/v1/consents/${encodeURIComponent(purpose)}`, { token, body: { subject: { external_id }, version: 'v1', text_sha256: TEXT_SHA } });
  if (r.status !== 200) throw new Error(`grant failed ${r.status} ${JSON.stringify(r.body)}`);
}

async function userWithRole(c: TestControl, ownerToken: string, role: string) {
  const email = `${role}-${Math.random().toString(36).slice(2)}@example.test`;
  const u = await c.req('POST', '/v1/users', { token: ownerToken, body: { email, password: TEST_PASSWORD, role } });
  if (u.status !== 201) throw new Error(JSON.stringify(u.body));
  const l = await c.req('POST', '/v1/auth/login', { body: { email, password: TEST_PASSWORD } });
  return { token: l.body.access_token as string, id: u.body.id as string };
}

t.test('sessions', async (t) => {
  const c = await startTestControl(t);
  const owner = await c.signup();
  const jwks = (await c.req('GET', '/.well-known/jwks.json')).body;
  const verifier = createTokenVerifier(jwks);

  t.test('JWKS publishes the public key only', async (t) => {
    t.equal(jwks.keys.length, 1);
    t.equal(jwks.keys[0].kty, 'EC');
    t.equal(jwks.keys[0].alg, 'ES256');
    t.notOk(jwks.keys[0].d, 'no private part');
  });

  t.test('admission needs voice_processing, provider:<name> for third parties, recording when asked', async (t) => {
    const none = await c.req('POST', '/v1/sessions', { token: owner.access, body: { provider: 'echo', participant: { external_id: 'p-none' } } });
    t.equal(none.status, 403);
    t.equal(none.body.error.code, 'CONSENT_REQUIRED');
    t.same(none.body.error.details.missing, ['voice_processing']);
    await grant(c, owner.access, 'voice_processing', 'p-1');
    const echo = await c.req('POST', '/v1/sessions', { token: owner.access, body: { provider: 'echo', participant: { external_id: 'p-1' } } });
    t.equal(echo.status, 201, 'echo runs locally: no provider consent needed');
    const openai = await c.req('POST', '/v1/sessions', { token: owner.access, body: { provider: 'openai', participant: { external_id: 'p-1' } } });
    t.equal(openai.status, 403);
    t.same(openai.body.error.details.missing, ['provider:openai']);
    await grant(c, owner.access, 'provider:openai', 'p-1');
    const rec = await c.req('POST', '/v1/sessions', { token: owner.access, body: { provider: 'openai', participant: { external_id: 'p-1' }, recording: true } });
    t.equal(rec.status, 403);
    t.same(rec.body.error.details.missing, ['recording']);
    const ok = await c.req('POST', '/v1/sessions', { token: owner.access, body: { provider: 'openai', participant: { external_id: 'p-1' } } });
    t.equal(ok.status, 201);
    // withdrawn consent no longer admits
    const w = await c.req('DELETE', '/v1/consents/voice_processing?external_id=p-1', { token: owner.access });
    t.equal(w.status, 200);
    const after = await c.req('POST', '/v1/sessions', { token: owner.access, body: { provider: 'echo', participant: { external_id: 'p-1' } } });
    t.equal(after.status, 403);
  });

  t.test('token claims match the consents granted at creation; verified by the shared verifier', async (t) => {
    for (const p of ['voice_processing', 'provider:elevenlabs', 'recording', 'transcript_storage']) await grant(c, owner.access, p, 'p-claims');
    const agent = { ref: 'coach-v2', instructions: 'Be kind.', voice: 'alloy', tools: ['natal_chart'], language: 'en', nudges: { enabled: true, min_interval_s: 30 } };
    const r = await c.req('POST', '/v1/sessions', {
      token: owner.access,
      body: { provider: 'elevenlabs', agent, participant: { external_id: 'p-claims' }, transport: 'twilio', recording: true, max_duration_s: 600, metadata: { order: 'o-1' } },
    });
    t.equal(r.status, 201, JSON.stringify(r.body));
    t.equal(r.body.gateway_url, 'ws://gw.test:8080/v1/twilio/media');
    const v = await verifier.verify(r.body.token);
    t.ok(v.ok, JSON.stringify(v));
    if (!v.ok) return;
    t.equal(v.claims.sid, r.body.session_id);
    t.equal(v.claims.tid, owner.tenantId);
    t.equal(v.claims.sub, 'p-claims');
    t.same(v.claims.participants, ['p-claims']);
    t.equal(v.claims.provider, 'elevenlabs');
    t.equal(v.claims.transport, 'twilio');
    t.same(v.claims.agent, agent);
    t.same([...v.claims.purposes].sort(), ['provider:elevenlabs', 'recording', 'transcript_storage', 'voice_processing']);
    t.equal(v.claims.max_duration_s, 600);
    t.equal(v.claims.aud, 'gateway');
    t.equal(new Date(v.claims.exp * 1000).toISOString(), r.body.expires_at);
    t.ok(v.claims.exp - v.claims.iat <= 300);
    // without recording requested, recording is not granted to the session even though consented
    const r2 = await c.req('POST', '/v1/sessions', { token: owner.access, body: { provider: 'echo', participant: { external_id: 'p-claims' }, transport: 'realtime' } });
    t.equal(r2.body.gateway_url, 'ws://gw.test:8080/v1/realtime');
    const v2 = await verifier.verify(r2.body.token);
    t.ok(v2.ok && !v2.claims.purposes.includes('recording') && v2.claims.purposes.includes('transcript_storage'));
    const r3 = await c.req('POST', '/v1/sessions', { token: owner.access, body: { provider: 'echo', participant: { external_id: 'p-claims' } } });
    t.equal(r3.body.gateway_url, 'ws://gw.test:8080/v1/audio');
  });

  t.test('a token signed with another key is rejected by the shared verifier', async (t) => {
    const other = await generateSigningKey();
    const forged = await mintSessionToken({
      sub: 'p-1', sid: '01900000-0000-7000-8000-000000000000', tid: owner.tenantId, participants: ['p-1'], provider: 'echo',
      transport: 'web', agent: {}, purposes: ['voice_processing'], max_duration_s: 60, ttl_s: 60,
    }, other);
    const v = await verifier.verify(forged);
    t.equal(v.ok, false);
    if (!v.ok) t.equal(v.reason, 'TOKEN_BAD_SIGNATURE');
    const remote = createTokenVerifier(new URL(c.url + '/.well-known/jwks.json'));
    t.equal((await remote.verify(forged)).ok, false, 'also via the remote JWKS');
  });

  t.test('two participants in one session (couples coaching)', async (t) => {
    await grant(c, owner.access, 'voice_processing', 'partner-a');
    const missing = await c.req('POST', '/v1/sessions', { token: owner.access, body: { provider: 'echo', participants: [{ external_id: 'partner-a' }, { external_id: 'partner-b' }] } });
    t.equal(missing.status, 403, 'every participant must consent');
    t.equal(missing.body.error.details.participant, 'partner-b');
    await grant(c, owner.access, 'voice_processing', 'partner-b');
    const r = await c.req('POST', '/v1/sessions', { token: owner.access, body: { provider: 'echo', participants: [{ external_id: 'partner-a' }, { external_id: 'partner-b' }] } });
    t.equal(r.status, 201);
    t.equal(r.body.tokens.length, 2);
    for (const [i, p] of ['partner-a', 'partner-b'].entries()) {
      const v = await verifier.verify(r.body.tokens[i].token);
      t.ok(v.ok && v.claims.sub === p && v.claims.participants.join() === 'partner-a,partner-b' && v.claims.sid === r.body.session_id);
    }
    const again = await c.req('POST', `/v1/sessions/${r.body.session_id}/tokens`, { token: owner.access, body: { participant: 'partner-b' } });
    t.equal(again.status, 201);
    const v = await verifier.verify(again.body.token);
    t.ok(v.ok && v.claims.sub === 'partner-b' && v.claims.sid === r.body.session_id);
    const stranger = await c.req('POST', `/v1/sessions/${r.body.session_id}/tokens`, { token: owner.access, body: { participant: 'partner-c' } });
    t.equal(stranger.status, 404);
    const dup = await c.req('POST', '/v1/sessions', { token: owner.access, body: { provider: 'echo', participants: [{ external_id: 'partner-a' }, { external_id: 'partner-a' }] } });
    t.equal(dup.status, 400);
    const both = await c.req('POST', '/v1/sessions', { token: owner.access, body: { provider: 'echo', participant: { external_id: 'partner-a' }, participants: [{ external_id: 'partner-b' }] } });
    t.equal(both.status, 400);
  });

  t.test('validation: unknown provider/transport 400, unknown fields 400, non-JSON 415, no auth 401', async (t) => {
    t.equal((await c.req('POST', '/v1/sessions', { token: owner.access, body: { provider: 'skynet' } })).status, 400);
    t.equal((await c.req('POST', '/v1/sessions', { token: owner.access, body: { provider: 'echo', transport: 'carrier-pigeon' } })).status, 400);
    t.equal((await c.req('POST', '/v1/sessions', { token: owner.access, body: { provider: 'echo', agent: { secret_key: 'x' } } })).status, 400);
    t.equal((await c.req('POST', '/v1/sessions', { token: owner.access, raw: 'provider=echo', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status, 415);
    t.equal((await c.req('POST', '/v1/sessions', { body: { provider: 'echo' } })).status, 401);
  });

  t.test('the calling user is the default participant (user consents)', async (t) => {
    const none = await c.req('POST', '/v1/sessions', { token: owner.access, body: { provider: 'echo' } });
    t.equal(none.status, 403);
    const g = await c.req('PUT', '/v1/consents/voice_processing', { token: owner.access, body: { version: 'v2', text_sha256: TEXT_SHA } });
    t.equal(g.status, 200);
    t.same(g.body.subject, { kind: 'user', ref: owner.userId });
    const r = await c.req('POST', '/v1/sessions', { token: owner.access, body: { provider: 'echo' } });
    t.equal(r.status, 201);
    const v = await verifier.verify(r.body.token);
    t.ok(v.ok && v.claims.sub === owner.userId);
  });

  t.test('list with cursor pagination and filters; get; 404s', async (t) => {
    const o = await c.signup();
    await grant(c, o.access, 'voice_processing', 'lister');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await c.req('POST', '/v1/sessions', { token: o.access, body: { provider: 'echo', participant: { external_id: 'lister' } } })).body.session_id);
    const p1 = await c.req('GET', '/v1/sessions?limit=2', { token: o.access });
    t.equal(p1.status, 200);
    t.same(p1.body.data.map((s: { id: string }) => s.id), [ids[4], ids[3]], 'newest first');
    const p2 = await c.req('GET', `/v1/sessions?limit=2&cursor=${p1.body.next_cursor}`, { token: o.access });
    t.same(p2.body.data.map((s: { id: string }) => s.id), [ids[2], ids[1]]);
    const p3 = await c.req('GET', `/v1/sessions?limit=2&cursor=${p2.body.next_cursor}`, { token: o.access });
    t.same(p3.body.data.map((s: { id: string }) => s.id), [ids[0]]);
    t.equal(p3.body.next_cursor, null);
    await c.req('POST', `/v1/sessions/${ids[0]}/terminate`, { token: o.access });
    const term = await c.req('GET', '/v1/sessions?status=terminated', { token: o.access });
    t.same(term.body.data.map((s: { id: string }) => s.id), [ids[0]]);
    const future = await c.req('GET', `/v1/sessions?created_after=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`, { token: o.access });
    t.same(future.body.data, []);
    const past = await c.req('GET', `/v1/sessions?created_before=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}&limit=200`, { token: o.access });
    t.equal(past.body.data.length, 5);
    t.equal((await c.req('GET', '/v1/sessions?status=bogus', { token: o.access })).status, 400);
    t.equal((await c.req('GET', '/v1/sessions?limit=0', { token: o.access })).status, 400);
    const one = await c.req('GET', `/v1/sessions/${ids[1]}`, { token: o.access });
    t.equal(one.status, 200);
    t.equal(one.body.status, 'created');
    t.same(one.body.participants, ['lister']);
    t.equal((await c.req('GET', '/v1/sessions/01900000-0000-7000-8000-000000000000', { token: o.access })).status, 404);
    t.equal((await c.req('GET', '/v1/sessions/not-a-uuid', { token: o.access })).status, 404);
    // another tenant sees none of it
    t.equal((await c.req('GET', `/v1/sessions/${ids[1]}`, { token: owner.access })).status, 404);
    t.equal((await c.req('POST', `/v1/sessions/${ids[1]}/terminate`, { token: owner.access })).status, 404);
    t.equal((await c.req('POST', `/v1/sessions/${ids[1]}/tokens`, { token: owner.access, body: { participant: 'lister' } })).status, 404);
    const mine = await c.req('GET', '/v1/sessions?limit=200', { token: owner.access });
    t.notOk(mine.body.data.some((s: { id: string }) => ids.includes(s.id)));
  });

  t.test('terminate: publishes the command on the bus, marks the session, 409 when already over; role matrix', async (t) => {
    await grant(c, owner.access, 'voice_processing', 'p-term');
    const s = await c.req('POST', '/v1/sessions', { token: owner.access, body: { provider: 'echo', participant: { external_id: 'p-term' } } });
    const agent = await userWithRole(c, owner.access, 'agent');
    const monitor = await userWithRole(c, owner.access, 'monitor');
    const byAgent = await c.req('POST', `/v1/sessions/${s.body.session_id}/terminate`, { token: agent.token });
    t.equal(byAgent.status, 403);
    t.equal(byAgent.body.error.code, 'FORBIDDEN');
    const monitorCreate = await c.req('POST', '/v1/sessions', { token: monitor.token, body: { provider: 'echo', participant: { external_id: 'p-term' } } });
    t.equal(monitorCreate.status, 403, 'monitors do not create sessions');
    const before = c.commands.length;
    const r = await c.req('POST', `/v1/sessions/${s.body.session_id}/terminate`, { token: monitor.token });
    t.equal(r.status, 200);
    t.equal(r.body.status, 'terminated');
    t.equal(r.body.end_reason, 'terminated_by_operator');
    t.ok(r.body.ended_at);
    const cmd = c.commands.slice(before).find((x) => x.session_id === s.body.session_id);
    t.ok(cmd, 'terminate command published');
    t.equal(cmd?.type, 'terminate');
    t.match(cmd, { reason: 'terminated_by_operator' });
    t.ok(typeof cmd?.id === 'string' && typeof cmd?.ts === 'number');
    const again = await c.req('POST', `/v1/sessions/${s.body.session_id}/terminate`, { token: owner.access });
    t.equal(again.status, 409);
    const tok = await c.req('POST', `/v1/sessions/${s.body.session_id}/tokens`, { token: owner.access, body: { participant: 'p-term' } });
    t.equal(tok.status, 409, 'no new tokens for a terminated session');
  });

  t.test('withdrawing consent terminates live sessions that rely on it', async (t) => {
    await grant(c, owner.access, 'voice_processing', 'p-withdraw');
    const s = await c.req('POST', '/v1/sessions', { token: owner.access, body: { provider: 'echo', participant: { external_id: 'p-withdraw' } } });
    await markSessionActive(c.control.db, { tenantId: owner.tenantId, sessionId: s.body.session_id });
    const before = c.commands.length;
    const w = await c.req('DELETE', '/v1/consents/voice_processing?external_id=p-withdraw', { token: owner.access });
    t.equal(w.status, 200);
    t.same(w.body.terminated_sessions, [s.body.session_id]);
    t.match(c.commands.slice(before), [{ type: 'terminate', session_id: s.body.session_id, reason: 'consent_withdrawn' }]);
    const g = await c.req('GET', `/v1/sessions/${s.body.session_id}`, { token: owner.access });
    t.equal(g.body.status, 'terminated');
    t.equal(g.body.end_reason, 'consent_withdrawn');
  });

  t.test('state transitions applied from gateway events', async (t) => {
    await grant(c, owner.access, 'voice_processing', 'p-state');
    const mk = async () => (await c.req('POST', '/v1/sessions', { token: owner.access, body: { provider: 'echo', participant: { external_id: 'p-state' } } })).body.session_id as string;
    const a = await mk();
    t.equal(await markSessionActive(c.control.db, { tenantId: owner.tenantId, sessionId: a }), true);
    t.equal(await markSessionActive(c.control.db, { tenantId: owner.tenantId, sessionId: a }), false, 'idempotent');
    t.equal((await c.req('GET', `/v1/sessions/${a}`, { token: owner.access })).body.status, 'active');
    t.equal(await markSessionEnded(c.control.sql, { tenantId: owner.tenantId, sessionId: a, reason: 'client_closed' }), true, 'accepts the plain sql pool too');
    const ended = (await c.req('GET', `/v1/sessions/${a}`, { token: owner.access })).body;
    t.equal(ended.status, 'ended');
    t.ok(ended.started_at && ended.ended_at);
    t.equal(await markSessionEnded(c.control.db, { tenantId: owner.tenantId, sessionId: a, reason: 'error' }), false, 'terminal stays terminal');
    const b = await mk();
    await markSessionActive(c.control.db, { tenantId: owner.tenantId, sessionId: b });
    await markSessionEnded(c.control.db, { tenantId: owner.tenantId, sessionId: b, reason: 'provider_lost' });
    t.equal((await c.req('GET', `/v1/sessions/${b}`, { token: owner.access })).body.status, 'failed');
    t.equal(await markSessionActive(c.control.db, { tenantId: '01900000-0000-7000-8000-000000000000', sessionId: b }), false, 'another tenant cannot touch it');
  });

  t.test('Idempotency-Key: same body replays, another body is 422', async (t) => {
    await grant(c, owner.access, 'voice_processing', 'p-idem');
    const body = { provider: 'echo', participant: { external_id: 'p-idem' }, metadata: { attempt: 1 } };
    const h = { 'idempotency-key': 'create-42' };
    const r1 = await c.req('POST', '/v1/sessions', { token: owner.access, body, headers: h });
    t.equal(r1.status, 201);
    const r2 = await c.req('POST', '/v1/sessions', { token: owner.access, body, headers: h });
    t.equal(r2.status, 201);
    t.equal(r2.body.session_id, r1.body.session_id, 'replayed, not re-created');
    t.equal(r2.body.token, r1.body.token);
    t.equal(r2.headers.get('idempotent-replayed'), 'true');
    const r3 = await c.req('POST', '/v1/sessions', { token: owner.access, body: { ...body, metadata: { attempt: 2 } }, headers: h });
    t.equal(r3.status, 422);
    t.equal(r3.body.error.code, 'IDEMPOTENCY_KEY_REUSED');
    const list = await c.req('GET', '/v1/sessions?limit=200', { token: owner.access });
    t.equal(list.body.data.filter((s: { metadata: { attempt?: number } }) => s.metadata.attempt === 1).length, 1, 'one session created');
    // keys are per caller: another tenant may use the same key
    const other = await c.signup();
    await grant(c, other.access, 'voice_processing', 'p-idem');
    const r4 = await c.req('POST', '/v1/sessions', { token: other.access, body, headers: h });
    t.equal(r4.status, 201);
    t.not(r4.body.session_id, r1.body.session_id);
    // failures replay too (a 403 stays a 403 for that key)
    const f1 = await c.req('POST', '/v1/sessions', { token: owner.access, body: { provider: 'echo', participant: { external_id: 'nobody' } }, headers: { 'idempotency-key': 'k-fail' } });
    t.equal(f1.status, 403);
    const f2 = await c.req('POST', '/v1/sessions', { token: owner.access, body: { provider: 'echo', participant: { external_id: 'nobody' } }, headers: { 'idempotency-key': 'k-fail' } });
    t.equal(f2.status, 403);
    t.equal(f2.headers.get('idempotent-replayed'), 'true');
    t.equal((await c.req('POST', '/v1/sessions', { token: owner.access, body, headers: { 'idempotency-key': 'bad key with spaces' } })).status, 400);
  });
});
