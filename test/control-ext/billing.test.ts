/** Billing: pre-authorisation, idempotent concurrent usage debits, zero cut-off, ledger immutability, no drift. */
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { createTokenVerifier } from '../../shared/src/token.ts';
import { recordUsage, costMicro, billedMs, appendLedger, ensureAccount } from '../../control/src/services/billing.ts';
import { withTenant } from '../../control/src/db/client.ts';
import { startTestControl, EXT_ENV, grant, credit, newSession, userWithRole } from './helpers.ts';

const CFG = { BILLING_TRIAL_GRANT_MICRO: 0 };

t.test('billing', async (t) => {
  const c = await startTestControl(t, EXT_ENV);
  const owner = await c.signup();
  const deps = { db: c.control.db, bus: c.bus, config: CFG };
  const su = c.db.superuser();
  await grant(c, owner.access, 'voice_processing', 'b-1');

  t.test('metering arithmetic is exact integers', async (t) => {
    t.equal(billedMs({ seconds_in: 1.2, seconds_out: 0.5, provider_seconds: 2.0004 }), 2000n);
    t.equal(costMicro(1001n, 1000n), 1001n);
    t.equal(costMicro(1n, 1n), 1n, 'a started micro-credit is charged');
    t.equal(costMicro(0n, 5000n), 0n);
  });

  t.test('pre-authorisation: minimum balance and capped max duration', async (t) => {
    const none = await c.req('POST', '/v1/sessions', { token: owner.access, body: { provider: 'echo', participant: { external_id: 'b-1' } } });
    t.equal(none.status, 402);
    t.equal(none.body.error.code, 'INSUFFICIENT_CREDIT');
    const pr = await c.req('PUT', '/v1/billing/prices', { token: owner.access, body: { prices: [{ provider: 'echo', micro_per_second: 1000 }] } });
    t.equal(pr.status, 200);
    t.same(pr.body.data.find((x: { provider: string }) => x.provider === 'echo'), { provider: 'echo', micro_per_second: 1000, source: 'tenant' });
    await credit(c, owner.access, 29_999);
    const low = await c.req('POST', '/v1/sessions', { token: owner.access, body: { provider: 'echo', participant: { external_id: 'b-1' } } });
    t.equal(low.status, 402, '29.999 s is under the 30 s minimum');
    await credit(c, owner.access, 1);
    const ok = await newSession(c, owner.access, 'b-1');
    const jwks = (await c.req('GET', '/.well-known/jwks.json')).body;
    const v = await createTokenVerifier(jwks).verify(ok.token);
    t.ok(v.ok);
    if (v.ok) t.equal(v.claims.max_duration_s, 30, 'capped to what 30000 micro-credits buy at 1000/s');
    await credit(c, owner.access, 9_970_000);
    const big = await newSession(c, owner.access, 'b-1');
    const v2 = await createTokenVerifier(jwks).verify(big.token);
    if (v2.ok) t.equal(v2.claims.max_duration_s, 3600, 'the configured maximum when the balance buys more');
    const bal = await c.req('GET', '/v1/billing/balance', { token: owner.access });
    t.same(bal.body.balance_micro, 10_000_000);
    t.equal(bal.body.credits, '10.000000');
  });

  t.test('parallel recordUsage: same event id debits once, distinct ids all debit', async (t) => {
    const s = await newSession(c, owner.access, 'b-1');
    const before = (await c.req('GET', '/v1/billing/balance', { token: owner.access })).body.balance_micro as number;
    const same = await Promise.all(Array.from({ length: 25 }, () => recordUsage(deps, s.session_id, { seconds_in: 1, seconds_out: 1, provider_seconds: 1.5 }, 'ev-same')));
    t.equal(same.filter((r) => r.applied).length, 1, 'exactly one applied');
    const distinct = await Promise.all(Array.from({ length: 60 }, (_, i) => recordUsage(deps, s.session_id, { seconds_in: 0, seconds_out: 0, provider_seconds: 0.25 }, `ev-${i}`)));
    t.ok(distinct.every((r) => r.applied));
    // mixed: 30 ids each sent 3 times concurrently
    const mixed = await Promise.all(Array.from({ length: 90 }, (_, i) => recordUsage(deps, s.session_id, { seconds_in: 0.1, seconds_out: 0, provider_seconds: 0.1 }, `mx-${i % 30}`)));
    t.equal(mixed.filter((r) => r.applied).length, 30);
    const after = (await c.req('GET', '/v1/billing/balance', { token: owner.access })).body.balance_micro as number;
    t.equal(before - after, 1500 + 60 * 250 + 30 * 100, 'exact final balance');
    const [n] = await su`select count(*)::int as n from credit_ledger where session_id = ${s.session_id} and kind = 'usage'`;
    t.equal(n!.n, 91);
  });

  t.test('thousands of random concurrent operations: the cached balance equals the ledger sum', async (t) => {
    const s = await newSession(c, owner.access, 'b-1');
    let expected = BigInt((await c.req('GET', '/v1/billing/balance', { token: owner.access })).body.balance_micro);
    const applied = new Set<string>();
    const ops: Array<() => Promise<unknown>> = [];
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let i = 0; i < 1500; i++) {
      if (rnd() < 0.3) {
        const amt = BigInt(1 + Math.floor(rnd() * 5000));
        expected += amt;
        ops.push(() => withTenant(c.control.db, owner.tenantId, async (tx) => { await ensureAccount(tx, owner.tenantId, CFG); await appendLedger(tx, owner.tenantId, { type: 'system', id: null, requestId: null }, { kind: 'purchase', amount: amt }); }));
      } else {
        const id = `r-${Math.floor(rnd() * 800)}`;
        const secs = 0.001 * (1 + (Number(id.slice(2)) % 97));
        if (!applied.has(id)) { applied.add(id); expected -= costMicro(billedMs({ seconds_in: 0, seconds_out: 0, provider_seconds: secs }), 1000n); }
        ops.push(() => recordUsage(deps, s.session_id, { seconds_in: 0, seconds_out: 0, provider_seconds: secs }, id));
      }
    }
    // 16 workers pulling from the list
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => { while (next < ops.length) await ops[next++]!(); }));
    const [row] = await su`select b.balance_micro::text as cached, (select sum(amount_micro) from credit_ledger l where l.tenant_id = b.tenant_id)::text as summed
      from credit_balances b where b.tenant_id = ${owner.tenantId}`;
    t.equal(row!.cached, row!.summed, 'no drift');
    t.equal(row!.cached, expected.toString(), 'and equals the model');
    const [last] = await su`select balance_after_micro::text as b from credit_ledger where tenant_id = ${owner.tenantId} order by id desc limit 1`;
    t.equal(last!.b, row!.cached, 'balance_after of the newest row is the balance');
  });

  t.test('a debit to zero terminates every live session of the tenant', async (t) => {
    const live1 = await newSession(c, owner.access, 'b-1');
    const live2 = await newSession(c, owner.access, 'b-1');
    await c.control.sql`select 1`; // pool warm
    const bal = BigInt((await c.req('GET', '/v1/billing/balance', { token: owner.access })).body.balance_micro);
    const seen: string[] = [];
    const off = c.bus.subscribe((cmd) => { if (cmd.type === 'terminate' && cmd.reason === 'credit_exhausted') seen.push(cmd.session_id); });
    // price 1000/s: bal/1000 seconds empties the account exactly
    const secs = Number(bal) / 1000;
    const r = await recordUsage(deps, live1.session_id, { seconds_in: 0, seconds_out: 0, provider_seconds: secs }, 'ev-drain');
    off();
    t.equal(r.balance_micro, 0n);
    const live = await su<{ id: string }[]>`select id from sessions where tenant_id = ${owner.tenantId} and status in ('created','active')`;
    t.same(live, [], 'no live session remains');
    t.ok(seen.includes(live1.session_id) && seen.includes(live2.session_id), 'terminate published for both');
    t.equal(new Set(seen).size, r.terminated.length);
    t.ok(r.terminated.length >= 2);
    const st = await su<{ status: string; end_reason: string }[]>`select status, end_reason from sessions where id = ${live2.session_id}`;
    t.same(st[0], { status: 'terminated', end_reason: 'credit_exhausted' });
    // a later tick of an already-cut session still debits (usage happened) but terminates nothing new
    const again = await recordUsage(deps, live1.session_id, { seconds_in: 0, seconds_out: 0, provider_seconds: 1 }, 'ev-after');
    t.equal(again.balance_micro, -1000n);
    t.same(again.terminated, []);
    const after = await c.req('POST', '/v1/sessions', { token: owner.access, body: { provider: 'echo', participant: { external_id: 'b-1' } } });
    t.equal(after.status, 402);
  });

  t.test('ledger: cursor pagination, filters, append-only in the database', async (t) => {
    const p1 = await c.req('GET', '/v1/billing/ledger?limit=2', { token: owner.access });
    t.equal(p1.status, 200);
    t.equal(p1.body.data.length, 2);
    const p2 = await c.req('GET', `/v1/billing/ledger?limit=2&cursor=${p1.body.next_cursor}`, { token: owner.access });
    t.ok(p2.body.data[0].id < p1.body.data[1].id);
    const grants = await c.req('GET', '/v1/billing/ledger?kind=grant&limit=200', { token: owner.access });
    t.ok(grants.body.data.every((e: { kind: string }) => e.kind === 'grant'));
    await t.rejects(su`update credit_ledger set amount_micro = 0 where tenant_id = ${owner.tenantId}`, /append-only/);
    await t.rejects(su`delete from credit_ledger where tenant_id = ${owner.tenantId}`, /append-only/);
    await t.rejects(c.control.sql`update credit_ledger set note = 'x'`, /permission denied|append-only/);
  });

  t.test('roles and validation', async (t) => {
    const member = await userWithRole(c, owner.access, 'member');
    const monitor = await userWithRole(c, owner.access, 'monitor');
    t.equal((await c.req('POST', '/v1/billing/grants', { token: member.token, body: { amount_micro: 5 } })).status, 403);
    t.equal((await c.req('POST', '/v1/billing/grants', { token: monitor.token, body: { amount_micro: 5 } })).status, 403);
    t.equal((await c.req('GET', '/v1/billing/balance', { token: monitor.token })).status, 200);
    t.equal((await c.req('GET', '/v1/billing/balance', { token: member.token })).status, 403);
    t.equal((await c.req('POST', '/v1/billing/grants', { token: owner.access, body: { amount_micro: -5 } })).status, 400);
    t.equal((await c.req('POST', '/v1/billing/grants', { token: owner.access, body: { amount_micro: 1.5 } })).status, 400);
    t.equal((await c.req('POST', '/v1/billing/grants', { token: owner.access, body: { kind: 'adjustment', amount_micro: -5, note: 'correction' } })).status, 201);
    t.equal((await c.req('PUT', '/v1/billing/prices', { token: monitor.token, body: { prices: [{ provider: 'echo', micro_per_second: 1 }] } })).status, 403);
    // another tenant sees none of it
    const other = await c.signup();
    const ol = await c.req('GET', '/v1/billing/ledger', { token: other.access });
    t.same(ol.body.data, []);
    await t.rejects(recordUsage(deps, randomUUID(), { seconds_in: 1, seconds_out: 1, provider_seconds: 1 }, 'x'), /no such session/);
  });
});
