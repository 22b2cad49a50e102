/** Consents (grant, withdraw, history), the tamper-evident audit log, and row-level security proven through the app's own connection. */
import t from 'tap';
import { startTestControl, TEST_PASSWORD, TEXT_SHA } from '../helpers/control-app.ts';

const SHA2 = 'b'.repeat(64);

t.test('consents, audit, RLS', async (t) => {
  const c = await startTestControl(t);
  const a = await c.signup();
  const b = await c.signup();

  t.test('consents: grant, re-grant with a new version, withdraw, history', async (t) => {
    const g1 = await c.req('PUT', '/v1/consents/voice_processing', { token: a.access, body: { subject: { external_id: 'cust-9' }, version: 'v1', text_sha256: TEXT_SHA } });
    t.equal(g1.status, 200);
    t.match(g1.body, { subject: { kind: 'external', ref: 'cust-9' }, consent: { purpose: 'voice_processing', granted: true, version: 'v1', text_sha256: TEXT_SHA } });
    const g2 = await c.req('PUT', '/v1/consents/voice_processing', { token: a.access, body: { subject: { external_id: 'cust-9' }, version: 'v2', text_sha256: SHA2 } });
    t.equal(g2.status, 200);
    await c.req('PUT', '/v1/consents/provider%3Aopenai', { token: a.access, body: { subject: { external_id: 'cust-9' }, version: 'v1', text_sha256: TEXT_SHA } });
    const w = await c.req('DELETE', '/v1/consents/provider:openai?external_id=cust-9', { token: a.access });
    t.equal(w.status, 200);
    t.equal(w.body.consent.granted, false);
    const s = await c.req('GET', '/v1/consents?external_id=cust-9', { token: a.access });
    t.equal(s.status, 200);
    const cur = Object.fromEntries(s.body.current.map((r: { purpose: string; granted: boolean; version: string }) => [r.purpose, [r.granted, r.version]]));
    t.same(cur, { voice_processing: [true, 'v2'], 'provider:openai': [false, 'v1'] });
    t.equal(s.body.history.length, 4, 'every grant and withdrawal kept');
    t.same(s.body.history.map((r: { granted: boolean }) => r.granted), [false, true, true, true], 'newest first');
    const again = await c.req('DELETE', '/v1/consents/provider:openai?external_id=cust-9', { token: a.access });
    t.equal(again.status, 404, 'nothing granted to withdraw');
    const audit = (await c.req('GET', '/v1/audit?limit=500', { token: a.access })).body.data;
    // the subject is named in the audit row (raw, or by its pseudonym once the privacy migration applies)
    const names = (e: { target_type: string; target_id: string }) => e.target_type === 'subject:external' && (e.target_id === 'cust-9' || /^ps_/.test(e.target_id));
    t.ok(audit.some((e: { action: string; target_type: string; target_id: string }) => e.action === 'consent.withdrawn' && names(e)));
    t.ok(audit.some((e: { action: string; target_type: string; target_id: string }) => e.action === 'consent.read' && names(e)), 'reads of personal data are audited');
    // tenants do not share subjects
    const sb = await c.req('GET', '/v1/consents?external_id=cust-9', { token: b.access });
    t.same(sb.body.history, []);
  });

  t.test('consent validation and permissions', async (t) => {
    const bad = await c.req('PUT', '/v1/consents/marketing', { token: a.access, body: { subject: { external_id: 'x' }, version: 'v1', text_sha256: TEXT_SHA } });
    t.equal(bad.status, 400);
    t.equal((await c.req('PUT', '/v1/consents/provider:', { token: a.access, body: { subject: { external_id: 'x' }, version: 'v1', text_sha256: TEXT_SHA } })).status, 400);
    t.equal((await c.req('PUT', '/v1/consents/recording', { token: a.access, body: { subject: { external_id: 'x' }, version: 'v1', text_sha256: 'nothex' } })).status, 400);
    t.equal((await c.req('PUT', '/v1/consents/recording', { token: a.access, body: { subject: { external_id: 'x' }, version: 'v1' } })).status, 400);
    t.equal((await c.req('PUT', '/v1/consents/recording', { body: { subject: { external_id: 'x' }, version: 'v1', text_sha256: TEXT_SHA } })).status, 401);
    t.equal((await c.req('PUT', '/v1/consents/recording', { token: a.access, raw: 'x', headers: { 'content-type': 'text/plain' } })).status, 415);
    t.equal((await c.req('GET', '/v1/consents?external_id=x&user_id=01900000-0000-7000-8000-000000000000', { token: a.access })).status, 400);
    t.equal((await c.req('GET', `/v1/consents?user_id=${b.userId}`, { token: a.access })).status, 404, 'another tenant\'s user is not found');
    const own = await c.req('GET', `/v1/consents?user_id=${a.userId}`, { token: a.access });
    t.equal(own.status, 200);
    // members act only for themselves
    await c.req('POST', '/v1/users', { token: a.access, body: { email: 'cm@example.test', password: TEST_PASSWORD, role: 'member' } });
    const m = (await c.req('POST', '/v1/auth/login', { body: { email: 'cm@example.test', password: TEST_PASSWORD } })).body.access_token;
    t.equal((await c.req('PUT', '/v1/consents/voice_processing', { token: m, body: { version: 'v1', text_sha256: TEXT_SHA } })).status, 200);
    t.equal((await c.req('PUT', '/v1/consents/voice_processing', { token: m, body: { subject: { external_id: 'someone' }, version: 'v1', text_sha256: TEXT_SHA } })).status, 403);
    t.equal((await c.req('GET', `/v1/consents?user_id=${a.userId}`, { token: m })).status, 403);
  });

  t.test('RLS: an unfiltered query through the app connection sees only the current tenant', async (t) => {
    for (const who of [a, b]) {
      await c.req('PUT', '/v1/consents/voice_processing', { token: who.access, body: { subject: { external_id: 'shared-id' }, version: 'v1', text_sha256: TEXT_SHA } });
      await c.req('POST', '/v1/sessions', { token: who.access, body: { provider: 'echo', participant: { external_id: 'shared-id' } } });
      await c.req('POST', '/v1/api-keys', { token: who.access, body: { name: 'k' } });
      await c.req('POST', '/v1/sessions', { token: who.access, body: { provider: 'echo', participant: { external_id: 'shared-id' } }, headers: { 'idempotency-key': 'rls-k' } });
    }
    const sql = c.control.sql;
    const [role] = await sql`select current_user as u, r.rolsuper, r.rolbypassrls from pg_roles r where r.rolname = current_user`;
    t.equal(role!.u, 'switchboard_app');
    t.equal(role!.rolsuper, false);
    t.equal(role!.rolbypassrls, false);
    const tables = ['tenants', 'users', 'refresh_tokens', 'api_keys', 'consent_records', 'sessions', 'audit_log', 'idempotency_keys'];
    for (const table of tables) {
      const col = table === 'tenants' ? 'id' : 'tenant_id';
      // deliberately no WHERE clause
      const rows = await sql.begin(async (tx) => {
        await tx`select set_config('app.tenant_id', ${a.tenantId}, true)`;
        return tx.unsafe(`select ${col} as tid from ${table}`);
      });
      t.ok(rows.length > 0, `${table}: tenant A sees its rows`);
      t.ok(rows.every((r) => r.tid === a.tenantId), `${table}: only tenant A's rows (${rows.length})`);
      const none = await sql.unsafe(`select count(*)::int as n from ${table}`);
      t.equal(none[0]!.n, 0, `${table}: no tenant set, no rows`);
    }
    const su = c.db.superuser();
    const [all] = await su`select count(distinct tenant_id)::int as n from sessions`;
    t.ok(all!.n >= 2, 'both tenants have sessions (seen by the superuser)');
    // writes are checked too: tenant A cannot insert a row for tenant B
    const err = await sql.begin(async (tx) => {
      await tx`select set_config('app.tenant_id', ${a.tenantId}, true)`;
      await tx`insert into consent_records (id, tenant_id, subject_kind, subject_ref, purpose, granted, actor_type)
        values (gen_random_uuid(), ${b.tenantId}, 'external', 'x', 'recording', true, 'system')`;
    }).then(() => null, (e: { code?: string }) => e.code);
    t.equal(err, '42501', 'row violates the RLS policy');
  });

  t.test('audit: append-only in the database, chain verifies, a superuser edit is detected', async (t) => {
    const c2 = await startTestControl(t);
    const o = await c2.signup();
    for (let i = 0; i < 3; i++) {
      await c2.req('PUT', '/v1/consents/voice_processing', { token: o.access, body: { subject: { external_id: `s${i}` }, version: 'v1', text_sha256: TEXT_SHA } });
    }
    const ok = await c2.req('GET', '/v1/audit/verify', { token: o.access });
    t.equal(ok.status, 200);
    t.same(ok.body, { ok: true, checked: 5, first_broken: null });
    const list = await c2.req('GET', '/v1/audit?limit=2', { token: o.access });
    t.same(list.body.data.map((e: { seq: number }) => e.seq), [5, 4]);
    const next = await c2.req('GET', `/v1/audit?limit=10&cursor=${list.body.next_cursor}`, { token: o.access });
    t.same(next.body.data.map((e: { seq: number }) => e.seq), [3, 2, 1]);
    t.equal(next.body.next_cursor, null);
    t.match(list.body.data[0], { action: 'consent.granted', actor_type: 'user', actor_id: o.userId, target_type: 'subject:external', target_id: /^(s2|ps_\w+)$/ });
    t.match(list.body.data[0].hash, /^[0-9a-f]{64}$/);

    // the app role can neither update nor delete audit rows
    const app = c2.control.sql;
    for (const stmt of ['update audit_log set action = \'x\'', 'delete from audit_log']) {
      const code = await app.begin(async (tx) => {
        await tx`select set_config('app.tenant_id', ${o.tenantId}, true)`;
        await tx.unsafe(stmt);
      }).then(() => null, (e: { code?: string }) => e.code);
      t.equal(code, '42501', `app role: ${stmt} refused`);
    }
    // even a superuser's plain UPDATE is stopped by the trigger
    const su = c2.db.superuser();
    const trig = await su`update audit_log set action = 'x' where seq = 3`.then(() => null, (e: { message: string }) => e.message);
    t.match(trig, /append-only/);

    // a superuser bypassing triggers edits row 3: verification names it
    await su.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await tx`update audit_log set data = '{"purpose":"recording","version":"v1","text_sha256":"x"}'::jsonb where tenant_id = ${o.tenantId} and seq = 3`;
    });
    const broken = await c2.req('GET', '/v1/audit/verify', { token: o.access });
    t.equal(broken.body.ok, false);
    t.match(broken.body.first_broken, { seq: 3, reason: 'hash_mismatch' });
    // a forger who also recomputes row 3's hash breaks the link to row 4
    await su.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await tx`update audit_log set hash = audit_content_hash(tenant_id, seq, created_at, actor_type, actor_id, action, target_type, target_id, request_id, data, prev_hash)
        where tenant_id = ${o.tenantId} and seq = 3`;
    });
    const relinked = await c2.req('GET', '/v1/audit/verify', { token: o.access });
    t.match(relinked.body.first_broken, { seq: 4, reason: 'chain_broken' });
    // a deleted row shows as a gap
    await su.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await tx`delete from audit_log where tenant_id = ${o.tenantId} and seq = 2`;
    });
    const gap = await c2.req('GET', '/v1/audit/verify', { token: o.access });
    t.match(gap.body.first_broken, { seq: 3, reason: 'seq_gap' });
    // other tenants' chains are unaffected
    const other = await c2.signup();
    t.equal((await c2.req('GET', '/v1/audit/verify', { token: other.access })).body.ok, true);
    t.equal((await c2.req('GET', '/v1/audit?cursor=abc', { token: o.access })).status, 400);
  });
});
