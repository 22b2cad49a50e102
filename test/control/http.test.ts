/** HTTP surface: health, readiness, OpenAPI + docs, problem JSON, 404/405/413/415/400, headers, CORS, 5xx hygiene. */
import t from 'tap';
import { startTestControl } from '../helpers/control-app.ts';

t.test('control plane HTTP surface', async (t) => {
  const c = await startTestControl(t, { CORS_ORIGINS: 'https://app.example.test', BODY_LIMIT: '2kb' });

  t.test('healthz and readyz', async (t) => {
    const h = await c.req('GET', '/healthz');
    t.equal(h.status, 200);
    t.same(h.body, { ok: true });
    const r = await c.req('GET', '/readyz');
    t.equal(r.status, 200);
    t.equal(r.body.ready, true);
    t.ok(r.body.migration >= 1);
  });

  t.test('openapi 3.1 from the zod schemas, docs served locally', async (t) => {
    const o = await c.req('GET', '/openapi.json');
    t.equal(o.status, 200);
    t.equal(o.body.openapi, '3.1.0');
    const post = o.body.paths['/v1/sessions'].post;
    t.ok(post.requestBody.content['application/json'].schema.properties.provider, 'request body schema comes from CreateSessionRequest');
    t.same(post.requestBody.content['application/json'].schema.properties.provider.enum, ['echo', 'openai', 'elevenlabs', 'ultravox']);
    t.ok(o.body.paths['/v1/sessions/{id}/terminate'].post, 'path params converted');
    t.ok(o.body.paths['/v1/consents'].get.parameters.some((p: { name: string }) => p.name === 'external_id'), 'query params listed');
    for (const p of ['/v1/auth/signup', '/v1/auth/login', '/v1/auth/refresh', '/v1/auth/logout', '/v1/me', '/v1/api-keys', '/v1/audit/verify', '/.well-known/jwks.json']) {
      t.ok(o.body.paths[p], `documents ${p}`);
    }
    const d = await c.req('GET', '/docs');
    t.equal(d.status, 200);
    t.match(d.headers.get('content-type'), /text\/html/);
    t.match(d.body, /\/docs\/swagger-ui-bundle\.js/);
    t.notMatch(d.body, /https?:\/\/(cdn|unpkg)/, 'no CDN');
    const js = await fetch(c.url + '/docs/swagger-ui-bundle.js');
    t.equal(js.status, 200);
    t.ok((await js.arrayBuffer()).byteLength > 100_000, 'bundle served from swagger-ui-dist');
    const css = await c.req('GET', '/docs/swagger-ui.css');
    t.equal(css.status, 200);
    t.equal((await c.req('GET', '/docs/../package.json')).status, 404);
  });

  t.test('problem JSON for unknown routes and methods, request id echoed', async (t) => {
    const r = await c.req('GET', '/v1/nope', { headers: { 'x-request-id': 'req-abc.123' } });
    t.equal(r.status, 404);
    t.equal(r.body.error.code, 'NOT_FOUND');
    t.equal(r.body.error.request_id, 'req-abc.123');
    t.equal(r.headers.get('x-request-id'), 'req-abc.123');
    const m = await c.req('DELETE', '/healthz');
    t.equal(m.status, 405);
    t.equal(m.body.error.code, 'METHOD_NOT_ALLOWED');
    const bad = await c.req('GET', '/healthz', { headers: { 'x-request-id': 'has spaces and ünïcode' } });
    t.match(bad.headers.get('x-request-id'), /^[0-9a-f-]{36}$/, 'an invalid incoming id is replaced');
  });

  t.test('415 for non-JSON bodies, 400 for malformed JSON, 413 for large bodies, 400 for schema failures', async (t) => {
    const form = await c.req('POST', '/v1/auth/login', { raw: 'email=a&password=b', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    t.equal(form.status, 415);
    t.equal(form.body.error.code, 'UNSUPPORTED_MEDIA_TYPE');
    const text = await c.req('POST', '/v1/auth/login', { raw: '{"email":"a@b.c"}', headers: { 'content-type': 'text/plain' } });
    t.equal(text.status, 415);
    const broken = await c.req('POST', '/v1/auth/login', { raw: '{"email":', headers: { 'content-type': 'application/json' } });
    t.equal(broken.status, 400);
    t.equal(broken.body.error.code, 'BAD_REQUEST');
    const big = await c.req('POST', '/v1/auth/login', { body: { email: 'a@b.test', password: 'x'.repeat(5000) } });
    t.equal(big.status, 413);
    t.equal(big.body.error.code, 'PAYLOAD_TOO_LARGE');
    const invalid = await c.req('POST', '/v1/auth/signup', { body: { email: 'not-an-email', password: 'short', tenant_name: '' } });
    t.equal(invalid.status, 400);
    t.equal(invalid.body.error.code, 'VALIDATION_FAILED');
    t.ok(invalid.body.error.details.issues.length >= 3, 'every failing field reported');
    const extra = await c.req('POST', '/v1/auth/login', { body: { email: 'a@b.test', password: 'x', admin: true } });
    t.equal(extra.status, 400, 'unknown fields are refused');
  });

  t.test('security headers and CORS allowlist', async (t) => {
    const r = await c.req('GET', '/healthz', { headers: { origin: 'https://app.example.test' } });
    t.equal(r.headers.get('x-content-type-options'), 'nosniff');
    t.ok(r.headers.get('content-security-policy'));
    t.equal(r.headers.get('access-control-allow-origin'), 'https://app.example.test');
    const other = await c.req('GET', '/healthz', { headers: { origin: 'https://evil.example.test' } });
    t.equal(other.headers.get('access-control-allow-origin'), null);
    const pre = await c.req('OPTIONS', '/v1/sessions', { headers: { origin: 'https://app.example.test', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,idempotency-key' } });
    t.equal(pre.status, 204);
    t.match(pre.headers.get('access-control-allow-headers'), /Idempotency-Key/);
  });

  t.test('5xx responses carry no internals', async (t) => {
    const s = await c.signup();
    const su = c.db.superuser();
    await su`alter table api_keys rename to api_keys_gone`;
    t.teardown(() => su`alter table api_keys_gone rename to api_keys`);
    const r = await c.req('GET', '/v1/api-keys', { token: s.access });
    t.equal(r.status, 500);
    t.equal(r.body.error.code, 'INTERNAL');
    t.equal(r.body.error.message, 'Internal error.');
    t.equal(r.body.error.details, null);
    t.notMatch(JSON.stringify(r.body), /api_keys|relation|at .*\.ts/);
  });
});
