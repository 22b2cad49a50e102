/** Twilio: signed voice webhook -> TwiML <Connect><Stream> with the token parameter, consent policies, status callbacks, outbound calls via a REST stand-in. */
import t from 'tap';
import twilio from 'twilio';
import { createTokenVerifier } from '../../shared/src/token.ts';
import { tokenFromParameters } from '../../shared/src/protocol/twilio-token.ts';
import { startTwilioRest } from '../stand-ins/twilio-rest.ts';
import { startTestControl, EXT_ENV, grant, credit } from './helpers.ts';

const ACCOUNT = 'AC' + 'a1'.repeat(16);
const TOKEN = 'twilio-auth-token-0123456789abcdef';
const PUBLIC = 'https://control.example.com';

function form(params: Record<string, string>): string {
  return new URLSearchParams(params).toString();
}

t.test('twilio', async (t) => {
  const rest = await startTwilioRest(ACCOUNT, TOKEN);
  t.teardown(() => rest.close());
  const c = await startTestControl(t, {
    ...EXT_ENV, TWILIO_ACCOUNT_SID: ACCOUNT, TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_CONTROL_URL: PUBLIC, TWILIO_API_BASE_URL: rest.url,
    PUBLIC_GATEWAY_URL: 'wss://gw.example.com',
  });
  const owner = await c.signup();
  await credit(c, owner.access, 10_000_000);
  const jwks = (await c.req('GET', '/.well-known/jwks.json')).body;
  const verifier = createTokenVerifier(jwks);

  async function post(path: string, params: Record<string, string>, signature?: string) {
    const sig = signature ?? twilio.getExpectedTwilioSignature(TOKEN, PUBLIC + path, params);
    const res = await fetch(c.url + path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': sig }, body: form(params) });
    return { status: res.status, text: await res.text(), type: res.headers.get('content-type') };
  }

  const allow = await c.req('POST', '/v1/phone-numbers', {
    token: owner.access,
    body: { number: '+15550001000', provider: 'echo', agent: { instructions: 'Be brief.', tools: ['astro.natal_chart'] }, consent_policy: 'notice_and_allow', notice_text: 'This call is handled by an AI assistant.' },
  });
  t.equal(allow.status, 201, JSON.stringify(allow.body));
  const reject = await c.req('POST', '/v1/phone-numbers', { token: owner.access, body: { number: '+15550002000', provider: 'openai', consent_policy: 'reject', reject_text: 'Please register first.' } });
  t.equal(reject.status, 201);

  t.test('phone numbers: CRUD, uniqueness across tenants, validation, roles', async (t) => {
    const list = await c.req('GET', '/v1/phone-numbers', { token: owner.access });
    t.equal(list.body.data.length, 2);
    const other = await c.signup();
    const dup = await c.req('POST', '/v1/phone-numbers', { token: other.access, body: { number: '+15550001000', provider: 'echo' } });
    t.equal(dup.status, 409);
    t.equal((await c.req('POST', '/v1/phone-numbers', { token: owner.access, body: { number: '5550001', provider: 'echo' } })).status, 400);
    t.equal((await c.req('GET', `/v1/phone-numbers/${allow.body.id}`, { token: other.access })).status, 404);
    const patched = await c.req('PATCH', `/v1/phone-numbers/${reject.body.id}`, { token: owner.access, body: { reject_text: 'Please register on our website first.' } });
    t.equal(patched.body.reject_text, 'Please register on our website first.');
    t.equal(patched.body.provider, 'openai');
    const tmp = await c.req('POST', '/v1/phone-numbers', { token: owner.access, body: { number: '+15550003000', provider: 'echo' } });
    t.equal((await c.req('DELETE', `/v1/phone-numbers/${tmp.body.id}`, { token: owner.access })).status, 204);
    t.equal((await c.req('GET', `/v1/phone-numbers/${tmp.body.id}`, { token: owner.access })).status, 404);
  });

  t.test('voice webhook: invalid or missing signature is 403', async (t) => {
    const params = { CallSid: 'CA' + '0'.repeat(32), From: '+15557770001', To: '+15550001000', CallStatus: 'ringing', AccountSid: ACCOUNT };
    const bad = await post('/v1/twilio/voice', params, 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=');
    t.equal(bad.status, 403);
    t.match(bad.text, /SIGNATURE_INVALID/);
    const tampered = await post('/v1/twilio/voice', { ...params, From: '+15557770002' }, twilio.getExpectedTwilioSignature(TOKEN, PUBLIC + '/v1/twilio/voice', params));
    t.equal(tampered.status, 403, 'a changed parameter breaks the signature');
    const res = await fetch(c.url + '/v1/twilio/voice', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form(params) });
    t.equal(res.status, 403, 'missing header');
    const wrongUrl = await post('/v1/twilio/voice', params, twilio.getExpectedTwilioSignature(TOKEN, 'https://elsewhere.example.com/v1/twilio/voice', params));
    t.equal(wrongUrl.status, 403, 'signed for another URL');
    const [n] = await c.db.superuser()`select count(*)::int as n from sessions`;
    t.equal(n!.n, 0, 'no session created');
  });

  t.test('voice webhook: notice policy admits a caller without consent; TwiML streams with the token parameter and no query string', async (t) => {
    const params = { CallSid: 'CA' + '1'.repeat(32), From: '+15557770001', To: '+15550001000', CallStatus: 'ringing', AccountSid: ACCOUNT, Direction: 'inbound' };
    const r = await post('/v1/twilio/voice', params);
    t.equal(r.status, 200, r.text);
    t.match(r.type, /text\/xml/);
    t.match(r.text, /^<\?xml version="1.0" encoding="UTF-8"\?><Response><Say>This call is handled by an AI assistant.<\/Say><Connect><Stream url="wss:\/\/gw.example.com\/v1\/twilio\/media" statusCallback="https:\/\/control.example.com\/v1\/twilio\/status">(<Parameter name="token(_\d+)?" value="[^"]+"\/>)+<\/Stream><\/Connect><\/Response>$/);
    const url = /<Stream url="([^"]+)"/.exec(r.text)![1]!;
    t.notOk(url.includes('?'), 'no query string');
    // the JWT is split over <Parameter>s, each under Twilio's 500-character limit, and joins back whole
    const streamParams = Object.fromEntries([...r.text.matchAll(/<Parameter name="([^"]+)" value="([^"]+)"/g)].map((m) => [m[1]!, m[2]!]));
    t.ok(Object.keys(streamParams).length >= 2, 'a session JWT needs more than one parameter');
    for (const [name, value] of Object.entries(streamParams)) t.ok(name.length + value.length < 500, `${name} fits a Twilio parameter`);
    const token = tokenFromParameters(streamParams)!;
    const v = await verifier.verify(token);
    t.ok(v.ok, JSON.stringify(v));
    if (v.ok) {
      t.equal(v.claims.sub, '+15557770001', 'participant = caller number');
      t.equal(v.claims.transport, 'twilio');
      t.same(v.claims.agent, { instructions: 'Be brief.', tools: ['astro.natal_chart'] });
    }
    const consents = await c.req('GET', '/v1/consents?external_id=%2B15557770001', { token: owner.access });
    t.same(consents.body.current.map((x: { purpose: string }) => x.purpose), ['voice_processing'], 'notice recorded as consent');
    // second call: consent now exists, no notice
    const again = await post('/v1/twilio/voice', { ...params, CallSid: 'CA' + '2'.repeat(32) });
    t.notMatch(again.text, /<Say>/);
    t.match(again.text, /<Parameter name="token"/);
  });

  t.test('voice webhook: reject policy answers a spoken rejection; unknown numbers are not in service', async (t) => {
    const params = { CallSid: 'CA' + '3'.repeat(32), From: '+15557770009', To: '+15550002000', CallStatus: 'ringing', AccountSid: ACCOUNT };
    const r = await post('/v1/twilio/voice', params);
    t.equal(r.status, 200);
    t.equal(r.text, '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Please register on our website first.</Say><Hangup/></Response>');
    const unknown = await post('/v1/twilio/voice', { ...params, To: '+15559999999' });
    t.match(unknown.text, /not in service.*<Hangup\/>/);
    // with consent the reject-policy number connects
    await grant(c, owner.access, 'voice_processing', '+15557770009');
    await grant(c, owner.access, 'provider:openai', '+15557770009');
    const ok = await post('/v1/twilio/voice', { ...params, CallSid: 'CA' + '4'.repeat(32) });
    t.match(ok.text, /<Connect><Stream/);
  });

  t.test('status callbacks update the call and end the session', async (t) => {
    const sid = 'CA' + '1'.repeat(32);
    const [row] = await c.db.superuser()`select session_id from twilio_calls where call_sid = ${sid}`;
    const sessionId = row!.session_id as string;
    const stream = await post('/v1/twilio/status', { CallSid: sid, AccountSid: ACCOUNT, StreamSid: 'MZ1', StreamEvent: 'stream-started', Timestamp: new Date().toISOString() });
    t.equal(stream.status, 204);
    const bad = await post('/v1/twilio/status', { CallSid: sid, CallStatus: 'completed' }, 'nope');
    t.equal(bad.status, 403);
    const done = await post('/v1/twilio/status', { CallSid: sid, AccountSid: ACCOUNT, CallStatus: 'completed', CallDuration: '42' });
    t.equal(done.status, 204);
    const s = await c.req('GET', `/v1/sessions/${sessionId}`, { token: owner.access });
    t.equal(s.body.status, 'ended');
    t.equal(s.body.end_reason, 'completed');
    const [call] = await c.db.superuser()`select status, stream_status from twilio_calls where call_sid = ${sid}`;
    t.same(call, { status: 'completed', stream_status: 'stream-started' });
  });

  t.test('outbound call through the REST client (stand-in checks auth and form fields)', async (t) => {
    const noConsent = await c.req('POST', '/v1/calls', { token: owner.access, body: { to: '+15558880001', from: '+15550001000' } });
    t.equal(noConsent.status, 403);
    t.equal(noConsent.body.error.code, 'CONSENT_REQUIRED');
    await grant(c, owner.access, 'voice_processing', '+15558880001');
    const r = await c.req('POST', '/v1/calls', { token: owner.access, body: { to: '+15558880001', from: '+15550001000' } });
    t.equal(r.status, 201, JSON.stringify(r.body));
    t.match(r.body.call_sid, /^CA[0-9a-f]{32}$/);
    const req = rest.calls.at(-1)!;
    t.equal(req.auth, 'Basic ' + Buffer.from(`${ACCOUNT}:${TOKEN}`).toString('base64'));
    t.match(req.contentType, /application\/x-www-form-urlencoded/);
    t.same(req.form.To, ['+15558880001']);
    t.same(req.form.From, ['+15550001000']);
    t.same(req.form.StatusCallback, [`${PUBLIC}/v1/twilio/status`]);
    t.match(req.form.Twiml![0], /<Connect><Stream url="wss:\/\/gw.example.com\/v1\/twilio\/media"[^>]*>(<Parameter name="token(_\d+)?" value="[^"]+"\/>)+<\/Stream><\/Connect>/);
    const tok = tokenFromParameters(Object.fromEntries([...req.form.Twiml![0]!.matchAll(/<Parameter name="([^"]+)" value="([^"]+)"/g)].map((m) => [m[1]!, m[2]!])))!;
    const v = await verifier.verify(tok);
    t.ok(v.ok && v.claims.sid === r.body.session_id);
    const notMine = await c.req('POST', '/v1/calls', { token: owner.access, body: { to: '+15558880001', from: '+15551112222' } });
    t.equal(notMine.status, 404);
  });

  t.test('outbound call refused by Twilio fails the session with a typed error', async (t) => {
    const c2 = await startTestControl(t, { ...EXT_ENV, TWILIO_ACCOUNT_SID: ACCOUNT, TWILIO_AUTH_TOKEN: 'wrong-token-0123456789', PUBLIC_CONTROL_URL: PUBLIC, TWILIO_API_BASE_URL: rest.url });
    const o = await c2.signup();
    await credit(c2, o.access, 10_000_000);
    await c2.req('POST', '/v1/phone-numbers', { token: o.access, body: { number: '+15550004000', provider: 'echo' } });
    await grant(c2, o.access, 'voice_processing', '+15558880002');
    const r = await c2.req('POST', '/v1/calls', { token: o.access, body: { to: '+15558880002', from: '+15550004000' } });
    t.equal(r.status, 502);
    t.equal(r.body.error.code, 'PROVIDER_ERROR');
    const list = await c2.req('GET', '/v1/sessions', { token: o.access });
    t.equal(list.body.data[0].status, 'failed');
  });
});
