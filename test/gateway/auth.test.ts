import t from 'tap';
import { SignJWT, base64url } from 'jose';
import { generateSigningKey, mintSessionToken } from '../../shared/src/token.ts';
import { startTestGateway, tokenInput, connect, refusal } from './helpers.ts';

t.test('every token failure reason refuses the upgrade with 401 and its code', async (t) => {
  const tg = await startTestGateway();
  t.teardown(() => tg.close());
  const url = `${tg.gw.url}/v1/audio`;
  const now = Math.floor(Date.now() / 1000);
  const other = await generateSigningKey();
  const good = await tg.token();
  const [h, p, s] = good.split('.');
  const payload = JSON.parse(new TextDecoder().decode(base64url.decode(p!)));
  payload.max_duration_s = 999999;
  const tampered = `${h}.${base64url.encode(JSON.stringify(payload))}.${s}`;
  const none = `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${p}.`;
  const wrongAud = await new SignJWT({ ...tokenInput(), ttl_s: undefined })
    .setProtectedHeader({ alg: 'ES256', kid: tg.key.kid }).setIssuer('switchboard-control').setAudience('control')
    .setIssuedAt().setExpirationTime('5m').setJti('x').sign(tg.key.privateKey);
  const badClaims = await new SignJWT({ sid: 's1' })
    .setProtectedHeader({ alg: 'ES256', kid: tg.key.kid }).setIssuer('switchboard-control').setAudience('gateway')
    .setSubject('p1').setIssuedAt().setExpirationTime('5m').setJti('y').sign(tg.key.privateKey);
  const cases: Array<[string, string | null, string]> = [
    ['missing', null, 'TOKEN_MISSING'],
    ['malformed', 'garbage', 'TOKEN_MALFORMED'],
    ['expired', await mintSessionToken(tokenInput(), tg.key, now - 1000), 'TOKEN_EXPIRED'],
    ['not yet valid', await mintSessionToken(tokenInput({ nbf: now + 600 }), tg.key), 'TOKEN_NOT_YET_VALID'],
    ['wrong audience', wrongAud, 'TOKEN_WRONG_AUDIENCE'],
    ['another key', await mintSessionToken(tokenInput(), other), 'TOKEN_BAD_SIGNATURE'],
    ['another key, same kid', await mintSessionToken(tokenInput(), { ...other, kid: tg.key.kid }), 'TOKEN_BAD_SIGNATURE'],
    ['alg none', none, 'TOKEN_ALG_NOT_ALLOWED'],
    ['tampered payload', tampered, 'TOKEN_BAD_SIGNATURE'],
    ['invalid claims', badClaims, 'TOKEN_CLAIMS_INVALID'],
    ['twilio token on native', await tg.token({ transport: 'twilio' }), 'TOKEN_CLAIMS_INVALID'],
    ['subject not a participant', await tg.token({ sub: 'x', participants: ['y'] }), 'TOKEN_CLAIMS_INVALID'],
  ];
  for (const [name, token, code] of cases) {
    const r = await refusal(token === null ? url : `${url}?token=${encodeURIComponent(token)}`);
    t.same(r, { status: 401, code }, name);
  }
  const m = await tg.gw.metrics.registry.getSingleMetricAsString('gateway_upgrade_rejections_total');
  t.match(m, /reason="TOKEN_EXPIRED"} 1/);
  t.equal(tg.gw.sessions, 0);
});

t.test('token from query, Authorization header or subprotocol', async (t) => {
  const tg = await startTestGateway();
  t.teardown(() => tg.close());
  const url = `${tg.gw.url}/v1/audio`;
  for (const how of ['query', 'header', 'subprotocol'] as const) {
    const token = await tg.token();
    const c = how === 'query'
      ? await connect(`${url}?token=${token}`)
      : how === 'header'
        ? await connect(url, { headers: { authorization: `Bearer ${token}` } })
        : await connect(url, { protocols: ['realtime', `openai-insecure-api-key.${token}`] });
    if (how === 'subprotocol') t.equal(c.ws.protocol, 'realtime', 'the key subprotocol is never echoed');
    c.send({ type: 'session.start' });
    await c.waitFor((e) => e.type === 'session.started');
    t.pass(`${how} admits`);
    c.ws.close();
    await c.closed;
  }
});

t.test('participants, per-tenant and per-IP limits', async (t) => {
  const tg = await startTestGateway({ GATEWAY_MAX_SESSIONS_PER_TENANT: 3, GATEWAY_MAX_SESSIONS_PER_IP: 2 });
  t.teardown(() => tg.close());
  const url = `${tg.gw.url}/v1/audio`;
  const sid = 'coaching-1';
  const a = await connect(`${url}?token=${await tg.token({ sid, sub: 'alice', participants: ['alice', 'bob'] })}`);
  t.same(await refusal(`${url}?token=${await tg.token({ sid, sub: 'alice', participants: ['alice', 'bob'] })}`), { status: 409, code: 'SESSION_FULL' }, 'the same participant twice');
  t.same(await refusal(`${url}?token=${await tg.token({ sid, sub: 'carol', participants: ['alice', 'bob'] })}`), { status: 401, code: 'TOKEN_CLAIMS_INVALID' }, 'a participant the session does not name');
  const b = await connect(`${url}?token=${await tg.token({ sid, sub: 'bob', participants: ['alice', 'bob'] })}`);
  a.send({ type: 'session.start' });
  b.send({ type: 'session.start' });
  const sa = await a.waitFor((e) => e.type === 'session.started');
  const sb = await b.waitFor((e) => e.type === 'session.started');
  t.equal(sa.session_id, sb.session_id, 'two people, one session');
  t.equal(tg.gw.sessions, 1);
  const d = await connect(`${url}?token=${await tg.token()}`);
  t.ok(d, 'two people in one session take one of the IP\'s 2 sessions');
  t.same(await refusal(`${url}?token=${await tg.token()}`), { status: 429, code: 'TOO_MANY_SESSIONS' }, 'per-IP limit: 2 sessions');
  b.ws.close();
  await b.closed;
  t.same(await refusal(`${url}?token=${await tg.token()}`), { status: 429, code: 'TOO_MANY_SESSIONS' }, 'one participant leaving a session still in use frees nothing');
  d.ws.close();
  await d.closed;
  const c = await connect(`${url}?token=${await tg.token({ tid: 'tenant-a' })}`);
  t.ok(c, 'a place frees when a session\'s last participant leaves');
  a.ws.close();
  c.ws.close();
  await Promise.all([a.closed, c.closed]);
});

t.test('the per-tenant limit counts sessions; joining a live one is always admitted', async (t) => {
  const tg = await startTestGateway({ GATEWAY_MAX_SESSIONS_PER_TENANT: 2, GATEWAY_MAX_SESSIONS_PER_IP: 100 });
  t.teardown(() => tg.close());
  const url = `${tg.gw.url}/v1/audio`;
  const pair = { sid: 'coaching-2', participants: ['alice', 'bob'], tid: 'tenant-b' };
  const alice = await connect(`${url}?token=${await tg.token({ ...pair, sub: 'alice' })}`);
  const other = await connect(`${url}?token=${await tg.token({ tid: 'tenant-b' })}`);
  t.same(await refusal(`${url}?token=${await tg.token({ tid: 'tenant-b' })}`), { status: 429, code: 'TOO_MANY_SESSIONS' }, 'a third session of the tenant');
  const bob = await connect(`${url}?token=${await tg.token({ ...pair, sub: 'bob' })}`);
  t.ok(bob, 'the second person of a live session joins at the limit');
  const elsewhere = await connect(`${url}?token=${await tg.token({ tid: 'tenant-c' })}`);
  t.ok(elsewhere, 'another tenant is not affected');
  other.ws.close();
  await other.closed;
  const next = await connect(`${url}?token=${await tg.token({ tid: 'tenant-b' })}`);
  t.ok(next, 'a session ending frees its place');
  for (const c of [alice, bob, elsewhere, next]) c.ws.close();
  await Promise.all([alice, bob, elsewhere, next].map((c) => c.closed));
});

t.test('health, readiness, metrics and unknown routes', async (t) => {
  const tg = await startTestGateway();
  t.teardown(() => tg.close());
  const http = tg.gw.url.replace('ws://', 'http://');
  t.equal((await fetch(`${http}/healthz`)).status, 200);
  t.same(await (await fetch(`${http}/readyz`)).json(), { ready: true });
  const metrics = await (await fetch(`${http}/metrics`)).text();
  for (const name of ['gateway_active_sessions', 'gateway_frames_in_total', 'gateway_dropped_frames_total', 'gateway_relay_latency_seconds', 'gateway_provider_errors_total', 'gateway_upgrade_rejections_total', 'gateway_bytes_out_total']) {
    t.match(metrics, new RegExp(`# TYPE ${name} `), name);
  }
  const nf = await fetch(`${http}/nope`);
  t.equal(nf.status, 404);
  t.equal(((await nf.json()) as { error: { code: string } }).error.code, 'NOT_FOUND');
});
