/** Auth: signup, login, refresh rotation (reuse revokes the family), logout, /v1/me, per-IP rate limit on Redis. */
import t from 'tap';
import { SignJWT } from 'jose';
import { startTestControl, TEST_PASSWORD } from '../helpers/control-app.ts';

const SECRET = 'test-secret-0123456789-0123456789-abcdef';

t.test('auth', async (t) => {
  const c = await startTestControl(t, { JWT_SECRET: SECRET, REDIS_URL: 'redis://127.0.0.1:6379', AUTH_RATE_LIMIT_PER_MIN: '1000' });

  t.test('signup creates a tenant and its owner; duplicate email is 409', async (t) => {
    const r = await c.req('POST', '/v1/auth/signup', { body: { email: 'Owner@Example.test', password: TEST_PASSWORD, tenant_name: 'Acme' } });
    t.equal(r.status, 201);
    t.equal(r.body.token_type, 'Bearer');
    t.equal(r.body.user.email, 'owner@example.test', 'email normalised');
    t.equal(r.body.user.role, 'owner');
    t.equal(r.body.tenant.name, 'Acme');
    t.match(r.body.refresh_token, /^rt_/);
    const dup = await c.req('POST', '/v1/auth/signup', { body: { email: 'owner@example.test', password: TEST_PASSWORD, tenant_name: 'Other' } });
    t.equal(dup.status, 409);
    t.equal(dup.body.error.code, 'CONFLICT');
    const weak = await c.req('POST', '/v1/auth/signup', { body: { email: 'x@example.test', password: 'short', tenant_name: 'X' } });
    t.equal(weak.status, 400);
    const form = await c.req('POST', '/v1/auth/signup', { raw: 'a=b', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    t.equal(form.status, 415);
  });

  t.test('login: right password 200, wrong or unknown 401', async (t) => {
    const s = await c.signup();
    const ok = await c.req('POST', '/v1/auth/login', { body: { email: s.email, password: TEST_PASSWORD } });
    t.equal(ok.status, 200);
    t.equal(ok.body.user.id, s.userId);
    const wrong = await c.req('POST', '/v1/auth/login', { body: { email: s.email, password: 'not the password' } });
    t.equal(wrong.status, 401);
    t.equal(wrong.body.error.code, 'INVALID_CREDENTIALS');
    const unknown = await c.req('POST', '/v1/auth/login', { body: { email: 'nobody@example.test', password: TEST_PASSWORD } });
    t.equal(unknown.status, 401);
    t.equal(unknown.body.error.code, 'INVALID_CREDENTIALS');
    const missing = await c.req('POST', '/v1/auth/login', { body: { email: s.email } });
    t.equal(missing.status, 400);
  });

  t.test('refresh rotates; reusing a spent token revokes the whole family', async (t) => {
    const s = await c.signup();
    const r1 = await c.req('POST', '/v1/auth/refresh', { body: { refresh_token: s.refresh } });
    t.equal(r1.status, 200);
    t.not(r1.body.refresh_token, s.refresh, 'a new refresh token each time');
    const me = await c.req('GET', '/v1/me', { token: r1.body.access_token });
    t.equal(me.status, 200);
    // an attacker replays the first (spent) token
    const reuse = await c.req('POST', '/v1/auth/refresh', { body: { refresh_token: s.refresh } });
    t.equal(reuse.status, 401);
    t.equal(reuse.body.error.code, 'REFRESH_TOKEN_REUSED');
    // the legitimate holder's newer token is dead too
    const r2 = await c.req('POST', '/v1/auth/refresh', { body: { refresh_token: r1.body.refresh_token } });
    t.equal(r2.status, 401);
    t.equal(r2.body.error.code, 'TOKEN_INVALID');
    // another login (another family) is unaffected
    const other = await c.req('POST', '/v1/auth/login', { body: { email: s.email, password: TEST_PASSWORD } });
    const r3 = await c.req('POST', '/v1/auth/refresh', { body: { refresh_token: other.body.refresh_token } });
    t.equal(r3.status, 200);
    const audit = await c.req('GET', '/v1/audit', { token: r3.body.access_token });
    t.ok(audit.body.data.some((e: { action: string }) => e.action === 'auth.refresh_reuse_detected'), 'reuse is audited');
    const bogus = await c.req('POST', '/v1/auth/refresh', { body: { refresh_token: 'rt_' + 'x'.repeat(40) } });
    t.equal(bogus.status, 401);
  });

  t.test('logout revokes the family', async (t) => {
    const s = await c.signup();
    const out = await c.req('POST', '/v1/auth/logout', { body: { refresh_token: s.refresh } });
    t.equal(out.status, 204);
    const r = await c.req('POST', '/v1/auth/refresh', { body: { refresh_token: s.refresh } });
    t.equal(r.status, 401);
    const bad = await c.req('POST', '/v1/auth/logout', { body: {} });
    t.equal(bad.status, 400);
  });

  t.test('/v1/me: 200 with a token, 401 without, with a forged, expired or malformed one', async (t) => {
    const s = await c.signup();
    const me = await c.req('GET', '/v1/me', { token: s.access });
    t.equal(me.status, 200);
    t.equal(me.body.principal, 'user');
    t.equal(me.body.tenant.id, s.tenantId);
    t.ok(me.body.permissions.includes('sessions:terminate'));
    t.equal((await c.req('GET', '/v1/me')).body.error.code, 'UNAUTHENTICATED');
    t.equal((await c.req('GET', '/v1/me', { headers: { authorization: 'Basic abc' } })).status, 401);
    const forged = await new SignJWT({ tid: s.tenantId, role: 'owner' }).setProtectedHeader({ alg: 'HS256' }).setSubject(s.userId)
      .setIssuer('switchboard-control').setAudience('switchboard-control').setExpirationTime('5m').sign(new TextEncoder().encode('another-secret-0123456789-0123456789'));
    const f = await c.req('GET', '/v1/me', { token: forged });
    t.equal(f.status, 401);
    t.equal(f.body.error.code, 'TOKEN_INVALID');
    const expired = await new SignJWT({ tid: s.tenantId, role: 'owner' }).setProtectedHeader({ alg: 'HS256' }).setSubject(s.userId)
      .setIssuer('switchboard-control').setAudience('switchboard-control').setIssuedAt(Math.floor(Date.now() / 1000) - 3600)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(new TextEncoder().encode(SECRET));
    const e = await c.req('GET', '/v1/me', { token: expired });
    t.equal(e.status, 401);
    t.equal(e.body.error.code, 'TOKEN_EXPIRED');
    t.equal((await c.req('GET', '/v1/me', { token: 'not.a.jwt' })).status, 401);
  });
});

t.test('auth endpoints are rate limited per IP (Redis), with Retry-After', async (t) => {
  const prefix = `sbtest:auth-rl-${process.pid}-${Date.now()}`;
  const c = await startTestControl(t, { REDIS_URL: 'redis://127.0.0.1:6379', AUTH_RATE_LIMIT_PER_MIN: '3', RATE_LIMIT_PREFIX: prefix });
  const statuses: number[] = [];
  let last;
  for (let i = 0; i < 5; i++) {
    last = await c.req('POST', '/v1/auth/login', { body: { email: 'nobody@example.test', password: 'whatever-it-is' } });
    statuses.push(last.status);
  }
  t.same(statuses, [401, 401, 401, 429, 429]);
  t.equal(last!.body.error.code, 'RATE_LIMITED');
  const retry = Number(last!.headers.get('retry-after'));
  t.ok(retry >= 1 && retry <= 60, `Retry-After ${retry}`);
  // the counter lives in Redis under this test's prefix
  const { Redis } = await import('ioredis');
  const redis = new Redis('redis://127.0.0.1:6379');
  t.teardown(() => redis.quit());
  const keys = await redis.keys(`${prefix}:auth*`);
  t.ok(keys.length >= 1, 'limiter state is in Redis');
  // other endpoints are not limited by the auth limiter
  t.equal((await c.req('GET', '/healthz')).status, 200);
});
