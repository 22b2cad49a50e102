/** ElevenLabs post-call webhook signatures (PROTOCOLS.md 3.4 vector), agent tools via /internal/tools, OpenAPI coverage. */
import t from 'tap';
import http from 'node:http';
import { createHmac, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { verifyElevenLabsSignature } from '../../control/src/services/webhooks-in.ts';
import { startTestControl, EXT_ENV, grant, credit, newSession, userWithRole } from './helpers.ts';

const VECTOR = {
  secret: 'wsec_test_secret_0123456789', t: 1700000000, body: '{"type":"post_call_transcription","data":{}}',
  v0: '816cd97f0cd1fd6ebc62d6af0d60121b7313bb12b8e82bb86a024e6333bf328e',
};

t.test('ElevenLabs signature: test vector, one-byte change, stale timestamp', async (t) => {
  const header = `t=${VECTOR.t},v0=${VECTOR.v0}`;
  t.same(verifyElevenLabsSignature(VECTOR.secret, header, VECTOR.body, VECTOR.t + 60), { ok: true, t: VECTOR.t });
  t.same(verifyElevenLabsSignature(VECTOR.secret, header, Buffer.from(VECTOR.body), VECTOR.t + 29 * 60), { ok: true, t: VECTOR.t });
  const changed = VECTOR.body.replace('{}', '{ }').slice(0, -1); // same length, one byte differs
  t.equal(changed.length, VECTOR.body.length);
  t.same(verifyElevenLabsSignature(VECTOR.secret, header, changed, VECTOR.t + 60), { ok: false, reason: 'mismatch' });
  t.same(verifyElevenLabsSignature(VECTOR.secret, header, VECTOR.body, VECTOR.t + 31 * 60), { ok: false, reason: 'stale' });
  t.same(verifyElevenLabsSignature('other-secret', header, VECTOR.body, VECTOR.t + 60), { ok: false, reason: 'mismatch' });
  t.same(verifyElevenLabsSignature(VECTOR.secret, undefined, VECTOR.body), { ok: false, reason: 'missing' });
  t.same(verifyElevenLabsSignature(VECTOR.secret, 'v0=abc', VECTOR.body), { ok: false, reason: 'malformed' });
});

t.test('webhooks, tools, openapi over HTTP', async (t) => {
  const secret = 'wsec_' + randomBytes(12).toString('hex');
  const serviceToken = randomBytes(24).toString('hex');
  const c = await startTestControl(t, { ...EXT_ENV, ELEVENLABS_WEBHOOK_SECRET: secret, CONTROL_SERVICE_TOKEN: serviceToken });
  const owner = await c.signup();
  await credit(c, owner.access, 10_000_000);
  for (const p of ['voice_processing', 'transcript_storage']) await grant(c, owner.access, p, 'w-1');
  await grant(c, owner.access, 'voice_processing', 'w-2');
  const s = await newSession(c, owner.access, 'w-1', { agent: { tools: ['astro.natal_chart', 'crm.lookup', 'slow.tool', 'broken.tool'] } });
  const s2 = await newSession(c, owner.access, 'w-2');

  function signed(body: string, ts = Math.floor(Date.now() / 1000)) {
    return `t=${ts},v0=${createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex')}`;
  }
  async function hook(body: string, sig: string) {
    const r = await fetch(`${c.url}/v1/webhooks/elevenlabs`, { method: 'POST', headers: { 'content-type': 'application/json', 'elevenlabs-signature': sig }, body });
    return { status: r.status, body: await r.json() as any };
  }

  t.test('post-call webhook verifies the raw body and stores transcript/analysis encrypted', async (t) => {
    // spacing and key order that a JSON re-serialisation would change
    const body = `{ "type":"post_call_transcription", "event_timestamp": 1700000000, "data": {"conversation_id":"conv_1","conversation_initiation_client_data":{"dynamic_variables":{"switchboard_session_id":"${s.session_id}"}},"transcript":[{"role":"user","message":"hello zebra-opal"}],"analysis":{"call_successful":"success"}} }`;
    const ok = await hook(body, signed(body));
    t.equal(ok.status, 200, JSON.stringify(ok.body));
    t.same(ok.body, { matched: true, stored: true });
    const [row] = await c.db.superuser()`select conversation_id, ciphertext from session_postcall where session_id = ${s.session_id}`;
    t.equal(row!.conversation_id, 'conv_1');
    t.notOk((row!.ciphertext as Buffer).includes(Buffer.from('zebra')), 'encrypted at rest');
    const report = await c.req('GET', `/v1/sessions/${s.session_id}/report`, { token: owner.access });
    t.equal(report.body.post_call.available, true);
    // a long call's post-call payload is far past the API's 100 kB body limit and still accepted
    const turns = Array.from({ length: 3000 }, (_, i) => `{"role":"${i % 2 ? 'agent' : 'user'}","message":"turn ${i} of a long consultation about the natal chart"}`).join(',');
    const big = `{"type":"post_call_transcription","event_timestamp":1700000001,"data":{"conversation_id":"conv_big","conversation_initiation_client_data":{"dynamic_variables":{"switchboard_session_id":"${s.session_id}"}},"transcript":[${turns}],"analysis":{"call_successful":"success"}}}`;
    t.ok(big.length > 200_000);
    const bigRes = await hook(big, signed(big));
    t.equal(bigRes.status, 200, JSON.stringify(bigRes.body));
    const oneByte = body.replace('success', 'succesS');
    t.equal((await hook(oneByte, signed(body))).status, 403, 'one byte changed');
    const old = Math.floor(Date.now() / 1000) - 31 * 60;
    t.equal((await hook(body, signed(body, old))).status, 403, 'stale timestamp');
    t.equal((await hook(body, '')).status, 403, 'missing header');
    const noConsent = `{"type":"post_call_transcription","data":{"conversation_initiation_client_data":{"dynamic_variables":{"switchboard_session_id":"${s2.session_id}"}},"transcript":[]}}`;
    t.same((await hook(noConsent, signed(noConsent))).body, { matched: true, stored: false, reason: 'no transcript_storage consent' });
    const unknown = '{"type":"post_call_transcription","data":{"conversation_id":"conv_nobody"}}';
    t.same((await hook(unknown, signed(unknown))).body.matched, false);
  });

  let toolHits: Array<{ sig: string; body: string }> = [];
  const toolSecret = 'tool-secret-' + randomBytes(8).toString('hex');
  const toolServer = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (ch: Buffer) => chunks.push(ch));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      toolHits.push({ sig: String(req.headers['x-switchboard-signature']), body });
      if (req.url === '/slow') { setTimeout(() => { res.end('{}'); }, 1500); return; }
      if (req.url === '/broken') { res.writeHead(500); res.end('boom'); return; }
      const { args } = JSON.parse(body) as { args: { customer_id: string } };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ result: { name: 'Ada', id: args.customer_id } }));
    });
  });
  await new Promise<void>((r) => toolServer.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => { toolServer.close(() => r()); toolServer.closeAllConnections(); }));
  const toolBase = `http://127.0.0.1:${(toolServer.address() as AddressInfo).port}`;
  const argsSchema = { type: 'object', properties: { customer_id: { type: 'string', minLength: 3 }, limit: { type: 'integer' } }, required: ['customer_id'], additionalProperties: false };

  async function callTool(name: string, body: unknown, token = serviceToken) {
    const r = await fetch(`${c.url}/internal/tools/${name}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
    return { status: r.status, body: await r.json() as any };
  }

  t.test('tool registry: list built-ins, create HTTP tools, roles', async (t) => {
    for (const [name, url, timeout_ms] of [['crm.lookup', '/ok', 2000], ['slow.tool', '/slow', 300], ['broken.tool', '/broken', 2000]] as const) {
      const r = await c.req('POST', '/v1/tools', { token: owner.access, body: { name, description: 'x', url: toolBase + url, args_schema: argsSchema, secret: toolSecret, timeout_ms } });
      t.equal(r.status, 201, JSON.stringify(r.body));
      t.notOk('secret' in r.body);
    }
    const list = await c.req('GET', '/v1/tools', { token: owner.access });
    t.same(list.body.data.map((x: { name: string }) => x.name), ['astro.natal_chart', 'broken.tool', 'crm.lookup', 'slow.tool']);
    t.equal(list.body.data[0].kind, 'builtin');
    t.ok(list.body.data[0].args_schema.properties.latitude);
    t.equal((await c.req('POST', '/v1/tools', { token: owner.access, body: { name: 'crm.lookup', url: toolBase, args_schema: argsSchema, secret: toolSecret } })).status, 409);
    t.equal((await c.req('POST', '/v1/tools', { token: owner.access, body: { name: 'astro.mine', url: toolBase, args_schema: argsSchema, secret: toolSecret } })).status, 400);
    t.equal((await c.req('POST', '/v1/tools', { token: owner.access, body: { name: 'x.y', url: toolBase, args_schema: { type: 'string' }, secret: toolSecret } })).status, 400);
    const agent = await userWithRole(c, owner.access, 'agent');
    t.equal((await c.req('GET', '/v1/tools', { token: agent.token })).status, 403);
    const [secretRow] = await c.db.superuser()`select count(*)::int as n from tools where row_to_json(tools)::text like ${'%' + toolSecret + '%'}`;
    t.equal(secretRow!.n, 0, 'tool secret stored encrypted');
  });

  t.test('internal tool calls: service credential, argument validation (422 names the field), results, typed failures, audit', async (t) => {
    t.equal((await callTool('crm.lookup', { session_id: s.session_id, args: { customer_id: 'c-123' } }, 'wrong')).status, 401);
    t.equal((await callTool('crm.lookup', { bogus: true }, 'wrong')).status, 401, 'credential checked before the body');
    const userToken = await callTool('crm.lookup', { session_id: s.session_id, args: { customer_id: 'c-123' } }, owner.access);
    t.equal(userToken.status, 401, 'a user token is not the service credential');

    const chart = await callTool('astro.natal_chart', { session_id: s.session_id, args: { date: '1990-05-09', time: '14:30', latitude: 52.52, longitude: 13.405 } });
    t.equal(chart.status, 200, JSON.stringify(chart.body));
    t.equal(chart.body.result.bodies[0].body, 'sun');
    t.equal(chart.body.result.bodies[0].sign, 'taurus');
    const badChart = await callTool('astro.natal_chart', { session_id: s.session_id, args: { date: '1990-05-09', time: '14:30', latitude: 123, longitude: 13.4 } });
    t.equal(badChart.status, 422);
    t.equal(badChart.body.error.code, 'UNPROCESSABLE');
    t.match(badChart.body.error.message, /latitude/);
    t.same(badChart.body.error.details.issues.map((i: { field: string }) => i.field), ['latitude']);

    toolHits = [];
    const ok = await callTool('crm.lookup', { session_id: s.session_id, call_id: 'call_1', args: { customer_id: 'c-123' } });
    t.equal(ok.status, 200, JSON.stringify(ok.body));
    t.same(ok.body, { result: { name: 'Ada', id: 'c-123' } });
    const hit = toolHits[0]!;
    const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(hit.sig)!;
    t.ok(m, 'signature header');
    t.equal(m[2], createHmac('sha256', toolSecret).update(`${m[1]}.${hit.body}`).digest('hex'), 'HMAC over t.body verifies');
    t.same(JSON.parse(hit.body), { tool: 'crm.lookup', session_id: s.session_id, call_id: 'call_1', args: { customer_id: 'c-123' } });

    const missing = await callTool('crm.lookup', { session_id: s.session_id, args: { limit: 3 } });
    t.equal(missing.status, 422);
    t.same(missing.body.error.details.issues.map((i: { field: string }) => i.field), ['customer_id']);
    const wrongType = await callTool('crm.lookup', { session_id: s.session_id, args: { customer_id: 'c-123', limit: 'ten' } });
    t.equal(wrongType.status, 422);
    t.match(wrongType.body.error.message, /limit/);

    const slow = await callTool('slow.tool', { session_id: s.session_id, args: { customer_id: 'c-123' } });
    t.equal(slow.status, 200, 'a failing tool is a typed result for the model, not a failed request');
    t.equal(slow.body.error.code, 'TOOL_FAILED');
    t.equal(slow.body.error.details.reason, 'timeout');
    const broken = await callTool('broken.tool', { session_id: s.session_id, args: { customer_id: 'c-123' } });
    t.same([broken.status, broken.body.error.details], [200, { reason: 'http_status', status: 500 }]);
    const unlisted = await callTool('crm.lookup', { session_id: s2.session_id, args: { customer_id: 'c-123' } });
    t.equal(unlisted.status, 403, 'the agent of this session does not list the tool');

    const audit = await c.db.superuser()<{ data: { tool: string; ok: boolean; error: string | null } }[]>`
      select data from audit_log where tenant_id = ${owner.tenantId} and action = 'tool.called' order by seq`;
    t.equal(audit.length, 8, 'every call audited (authenticated ones)');
    t.same(audit.map((a) => [a.data.tool, a.data.ok]), [
      ['astro.natal_chart', true], ['astro.natal_chart', false], ['crm.lookup', true], ['crm.lookup', false], ['crm.lookup', false],
      ['slow.tool', false], ['broken.tool', false], ['crm.lookup', false],
    ]);
  });

  t.test('every endpoint is in /openapi.json', async (t) => {
    const doc = (await c.req('GET', '/openapi.json')).body;
    const want: Array<[string, string]> = [
      ['get', '/v1/billing/balance'], ['get', '/v1/billing/ledger'], ['post', '/v1/billing/grants'], ['get', '/v1/billing/prices'], ['put', '/v1/billing/prices'],
      ['get', '/v1/usage'], ['get', '/v1/sessions/{id}/report'], ['get', '/v1/reports/sessions.csv'], ['get', '/v1/sessions/{id}/transcript'],
      ['get', '/v1/sessions/{id}/recordings'], ['get', '/v1/sessions/{id}/recordings/{recording_id}'],
      ['post', '/v1/phone-numbers'], ['get', '/v1/phone-numbers'], ['get', '/v1/phone-numbers/{id}'], ['patch', '/v1/phone-numbers/{id}'], ['delete', '/v1/phone-numbers/{id}'],
      ['post', '/v1/twilio/voice'], ['post', '/v1/twilio/status'], ['post', '/v1/calls'], ['post', '/v1/webhooks/elevenlabs'],
      ['get', '/v1/tools'], ['post', '/v1/tools'], ['delete', '/v1/tools/{id}'], ['post', '/internal/tools/{name}'],
      ['get', '/v1/data-subjects/{external_id}/export'], ['delete', '/v1/data-subjects/{external_id}'], ['get', '/v1/me/export'], ['delete', '/v1/me'],
    ];
    for (const [m, p] of want) t.ok(doc.paths[p]?.[m], `${m.toUpperCase()} ${p}`);
    t.ok(doc.paths['/v1/billing/grants'].post.requestBody.content['application/json'].schema.properties.amount_micro, 'with its schemas');
    t.ok(doc.paths['/internal/tools/{name}'].post.requestBody);
  });
});
