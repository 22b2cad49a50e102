/** API keys (scoped, shown once, immediate revocation, per-key rate limit) and users/roles (the role matrix). */
import t from 'tap';
import { startTestControl, TEST_PASSWORD, TEXT_SHA, type TestControl } from '../helpers/control-app.ts';

async function login(c: TestControl, email: string) {
  return (await c.req('POST', '/v1/auth/login', { body: { email, password: TEST_PASSWORD } })).body.access_token as string;
}

t.test('API keys', async (t) => {
  const c = await startTestControl(t);
  const owner = await c.signup();

  t.test('create (secret once), use wherever a user token works, list without secrets', async (t) => {
    const k = await c.req('POST', '/v1/api-keys', { token: owner.access, body: { name: 'backend', scopes: ['sessions:create', 'sessions:read', 'consents:write'] } });
    t.equal(k.status, 201);
    t.match(k.body.secret, /^sk_[A-Za-z0-9_-]{40,}$/);
    t.equal(k.body.api_key.prefix, k.body.secret.slice(0, 11));
    const me = await c.req('GET', '/v1/me', { token: k.body.secret });
    t.equal(me.status, 200);
    t.equal(me.body.principal, 'api_key');
    t.same(me.body.api_key, { id: k.body.api_key.id, name: 'backend' });
    t.same(me.body.permissions.sort(), ['consents:write', 'sessions:create', 'sessions:read']);
    // server-to-server flow: record consent for a caller and open a session
    const g = await c.req('PUT', '/v1/consents/voice_processing', { token: k.body.secret, body: { subject: { external_id: '+15550100' }, version: 'v1', text_sha256: TEXT_SHA } });
    t.equal(g.status, 200);
    const noSubject = await c.req('PUT', '/v1/consents/voice_processing', { token: k.body.secret, body: { version: 'v1', text_sha256: TEXT_SHA } });
    t.equal(noSubject.status, 400, 'a key must name the data subject');
    const s = await c.req('POST', '/v1/sessions', { token: k.body.secret, body: { provider: 'echo', participant: { external_id: '+15550100' } } });
    t.equal(s.status, 201);
    // out of scope
    const term = await c.req('POST', `/v1/sessions/${s.body.session_id}/terminate`, { token: k.body.secret });
    t.equal(term.status, 403);
    t.equal((await c.req('GET', '/v1/audit', { token: k.body.secret })).status, 403);
    const list = await c.req('GET', '/v1/api-keys', { token: owner.access });
    t.equal(list.status, 200);
    t.equal(list.body.data.length, 1);
    t.notOk(JSON.stringify(list.body).includes(k.body.secret), 'the secret is never shown again');
    t.ok(list.body.data[0].last_used_at, 'last use recorded');
  });

  t.test('revocation takes effect at once; 404/409 on revoke', async (t) => {
    const k = await c.req('POST', '/v1/api-keys', { token: owner.access, body: { name: 'temp' } });
    t.equal((await c.req('GET', '/v1/me', { token: k.body.secret })).status, 200);
    const del = await c.req('DELETE', `/v1/api-keys/${k.body.api_key.id}`, { token: owner.access });
    t.equal(del.status, 200);
    t.ok(del.body.revoked_at);
    const after = await c.req('GET', '/v1/me', { token: k.body.secret });
    t.equal(after.status, 401, 'the very next request is refused');
    t.equal(after.body.error.code, 'UNAUTHENTICATED');
    t.equal((await c.req('DELETE', `/v1/api-keys/${k.body.api_key.id}`, { token: owner.access })).status, 409);
    t.equal((await c.req('DELETE', '/v1/api-keys/01900000-0000-7000-8000-000000000000', { token: owner.access })).status, 404);
    const other = await c.signup();
    const ok = await c.req('POST', '/v1/api-keys', { token: other.access, body: { name: 'theirs' } });
    t.equal((await c.req('DELETE', `/v1/api-keys/${ok.body.api_key.id}`, { token: owner.access })).status, 404, 'another tenant\'s key is not found');
    t.equal((await c.req('GET', '/v1/me', { token: 'sk_' + 'x'.repeat(43) })).status, 401);
  });

  t.test('scopes cannot exceed the creator; bad scopes 400; audited', async (t) => {
    const u = await c.req('POST', '/v1/users', { token: owner.access, body: { email: 'ak-admin@example.test', password: TEST_PASSWORD, role: 'admin' } });
    t.equal(u.status, 201);
    const adminTok = await login(c, 'ak-admin@example.test');
    t.equal((await c.req('POST', '/v1/api-keys', { token: adminTok, body: { name: 'x', scopes: ['sessions:read'] } })).status, 201);
    t.equal((await c.req('POST', '/v1/api-keys', { token: owner.access, body: { name: 'x', scopes: ['root'] } })).status, 400);
    t.equal((await c.req('POST', '/v1/api-keys', { token: owner.access, body: { name: '' } })).status, 400);
    const member = await c.req('POST', '/v1/users', { token: owner.access, body: { email: 'ak-member@example.test', password: TEST_PASSWORD, role: 'member' } });
    t.equal(member.status, 201);
    const memberTok = await login(c, 'ak-member@example.test');
    t.equal((await c.req('POST', '/v1/api-keys', { token: memberTok, body: { name: 'x' } })).status, 403);
    const audit = await c.req('GET', '/v1/audit?limit=500', { token: owner.access });
    const actions = audit.body.data.map((e: { action: string }) => e.action);
    t.ok(actions.includes('api_key.created') && actions.includes('api_key.revoked'));
  });
});

t.test('API keys are rate limited per key (Redis)', async (t) => {
  const c = await startTestControl(t, { REDIS_URL: 'redis://127.0.0.1:6379', API_KEY_RATE_LIMIT_PER_MIN: '3' });
  const owner = await c.signup();
  const a = (await c.req('POST', '/v1/api-keys', { token: owner.access, body: { name: 'a' } })).body.secret;
  const b = (await c.req('POST', '/v1/api-keys', { token: owner.access, body: { name: 'b' } })).body.secret;
  const sa: number[] = [];
  let last;
  for (let i = 0; i < 4; i++) sa.push((last = await c.req('GET', '/v1/me', { token: a })).status);
  t.same(sa, [200, 200, 200, 429]);
  t.ok(Number(last!.headers.get('retry-after')) >= 1);
  t.equal((await c.req('GET', '/v1/me', { token: b })).status, 200, 'another key has its own budget');
  t.equal((await c.req('GET', '/v1/me', { token: owner.access })).status, 200, 'user tokens are not under the key limiter');
});

t.test('users and the role matrix', async (t) => {
  const c = await startTestControl(t);
  const owner = await c.signup();
  const mk = async (role: string) => {
    const email = `${role}-${Math.random().toString(36).slice(2)}@example.test`;
    const r = await c.req('POST', '/v1/users', { token: owner.access, body: { email, password: TEST_PASSWORD, role } });
    t.equal(r.status, 201);
    return { id: r.body.id as string, token: await login(c, email) };
  };
  const admin = await mk('admin');
  const agent = await mk('agent');
  const monitor = await mk('monitor');
  const member = await mk('member');

  t.test('who may do what', async (t) => {
    const cases: Array<[string, string, string, unknown, Record<string, number>]> = [
      ['GET', '/v1/users', '', undefined, { owner: 200, admin: 200, agent: 200, monitor: 200, member: 403 }],
      ['GET', '/v1/audit', '', undefined, { owner: 200, admin: 200, agent: 403, monitor: 200, member: 403 }],
      ['GET', '/v1/api-keys', '', undefined, { owner: 200, admin: 200, agent: 403, monitor: 403, member: 403 }],
      ['GET', '/v1/sessions', '', undefined, { owner: 200, admin: 200, agent: 200, monitor: 200, member: 200 }],
      ['PUT', '/v1/consents/recording', '', { subject: { external_id: 'x' }, version: '1', text_sha256: TEXT_SHA }, { owner: 200, admin: 200, agent: 200, monitor: 403, member: 403 }],
    ];
    const tokens: Record<string, string> = { owner: owner.access, admin: admin.token, agent: agent.token, monitor: monitor.token, member: member.token };
    for (const [method, path, , body, expect] of cases) {
      for (const [role, status] of Object.entries(expect)) {
        const r = await c.req(method, path, { token: tokens[role], body });
        t.equal(r.status, status, `${role} ${method} ${path}`);
      }
    }
  });

  t.test('role changes: audited, owners only by owners, last owner kept', async (t) => {
    const up = await c.req('PATCH', `/v1/users/${member.id}`, { token: admin.token, body: { role: 'agent' } });
    t.equal(up.status, 200);
    t.equal(up.body.role, 'agent');
    t.equal((await c.req('PATCH', `/v1/users/${member.id}`, { token: admin.token, body: { role: 'owner' } })).status, 403, 'admins cannot make owners');
    t.equal((await c.req('POST', '/v1/users', { token: admin.token, body: { email: 'o2@example.test', password: TEST_PASSWORD, role: 'owner' } })).status, 403);
    t.equal((await c.req('PATCH', `/v1/users/${owner.userId}`, { token: admin.token, body: { role: 'member' } })).status, 403, 'admins cannot demote owners');
    t.equal((await c.req('PATCH', `/v1/users/${owner.userId}`, { token: owner.access, body: { role: 'admin' } })).status, 409, 'the last owner stays');
    t.equal((await c.req('PATCH', `/v1/users/${member.id}`, { token: agent.token, body: { role: 'admin' } })).status, 403);
    t.equal((await c.req('PATCH', `/v1/users/${member.id}`, { token: owner.access, body: { role: 'god' } })).status, 400);
    t.equal((await c.req('PATCH', '/v1/users/01900000-0000-7000-8000-000000000000', { token: owner.access, body: { role: 'admin' } })).status, 404);
    t.equal((await c.req('POST', '/v1/users', { token: owner.access, body: { email: owner.email, password: TEST_PASSWORD, role: 'member' } })).status, 409);
    const audit = await c.req('GET', '/v1/audit?limit=500', { token: owner.access });
    const change = audit.body.data.find((e: { action: string; target_id: string }) => e.action === 'user.role_changed' && e.target_id === member.id);
    t.match(change, { actor_type: 'user', actor_id: admin.id, data: { from: 'member', to: 'agent' } });
    t.ok(change.request_id);
    const actions = new Set(audit.body.data.map((e: { action: string }) => e.action));
    t.ok(actions.has('user.list') && actions.has('session.list'), 'listings of personal data are audited');
    const one = await c.req('GET', `/v1/users/${agent.id}`, { token: owner.access });
    t.equal(one.body.role, 'agent');
    const other = await c.signup();
    t.equal((await c.req('GET', `/v1/users/${agent.id}`, { token: other.access })).status, 404, 'other tenant: 404');
    t.equal((await c.req('PATCH', `/v1/users/${agent.id}`, { token: other.access, body: { role: 'admin' } })).status, 404);
  });
});
