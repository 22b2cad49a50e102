/**
 * applyGatewayEvent, event type by event type, each applied twice (the bus delivers at least once):
 * session.started -> active + pod; usage.tick -> one debit; transcript.final -> stored only with
 * transcript_storage consent; features.summary -> report + report.ready webhook queued once;
 * session.ended -> ended + session.ended webhook queued once; unknown session -> acknowledged, dropped.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { createLogger } from '../../shared/src/logger.ts';
import { newId } from '../../shared/src/ids.ts';
import type { GatewayEvent } from '../../shared/src/bus/index.ts';
import { loadControlConfig } from '../../control/src/config.ts';
import { applyGatewayEvent } from '../../control/src/services/gateway-events.ts';
import { EXT_ENV, grant, credit, newSession, startTestControl } from '../control-ext/helpers.ts';

const SUMMARY = {
  version: 1, duration_s: 12, silence_s: 2, overlap_s: 0, overlap_ratio: 0, interruptions: [],
  response_gaps: { count: 1, mean_ms: 600, median_ms: 600 },
  participants: [{
    participant: 'c-1', kind: 'human', talk_time_s: 6, talk_share: 0.5, turns: 2, mean_turn_s: 3, overlap_s: 0, overlap_ratio: 0, interruptions_made: 0,
    interrupted_by_others: 0, syllables: 24, speaking_rate_syll_per_s: 4, words: 16, words_per_minute: 160, pitch: null, speech_level_dbfs: -24, nudges: 0,
  }],
  nudges: { SLOW_DOWN: 0, LET_THEM_FINISH: 0, SPEAK_UP: 0, GIVE_SPACE: 0 },
};

t.test('each gateway event applied once in effect', async (t) => {
  const env = { ...EXT_ENV, MASTER_KEY: randomBytes(32).toString('base64') };
  const c = await startTestControl(t, env);
  const config = loadControlConfig({ DATABASE_URL: c.db.url, ...env });
  const owner = await c.signup();
  await credit(c, owner.access, 50_000_000);
  for (const p of ['voice_processing', 'transcript_storage']) await grant(c, owner.access, p, 'c-1');
  await grant(c, owner.access, 'voice_processing', 'c-2');
  const withT = await newSession(c, owner.access, 'c-1');
  const without = await newSession(c, owner.access, 'c-2');
  const hook = await c.req('POST', '/v1/webhooks', { token: owner.access, body: { url: 'http://127.0.0.1:9/hook', events: ['session.ended', 'report.ready'] } });
  t.equal(hook.status, 201);
  const deps = { db: c.control.db, bus: c.bus, config, log: createLogger('events-test', 'silent'), webhooks: config };
  const su = c.db.superuser();
  const base = (sid: string) => ({ id: newId(), session_id: sid, tenant_id: owner.tenantId, pod_id: 'gw-7', ts: Date.now() });
  const twice = async (ev: GatewayEvent) => [await applyGatewayEvent(deps, ev), await applyGatewayEvent(deps, ev)];

  t.same(await twice({ type: 'session.started', ...base(withT.session_id), participant: 'c-1', provider: 'echo', transport: 'native' }), ['applied', 'duplicate']);
  const [s1] = await su`select status, gateway_pod from sessions where id = ${withT.session_id}`;
  t.match(s1, { status: 'active', gateway_pod: 'gw-7' }, 'active on its pod');

  const tick = { type: 'usage.tick' as const, ...base(withT.session_id), seq: 0, delta: { seconds_in: 5, seconds_out: 4, provider_seconds: 5.25 }, final: false };
  t.same(await twice(tick), ['applied', 'duplicate']);
  const [l] = await su`select count(*)::int as n, sum(billed_ms)::int as ms from credit_ledger where session_id = ${withT.session_id} and kind = 'usage'`;
  t.match(l, { n: 1, ms: 5250 }, 'one debit of the max leg');

  const seg = (sid: string) => ({ type: 'transcript.final' as const, ...base(sid), participant: 'c-1', role: 'user' as const, text: 'hello there', start_ms: 0, end_ms: 900 });
  t.same(await twice(seg(withT.session_id)), ['applied', 'duplicate'], 'transcript stored once with consent');
  t.same(await twice(seg(without.session_id)), ['skipped', 'skipped'], 'not stored without transcript_storage consent');
  const [segs] = await su`select count(*)::int as n from transcript_segments`;
  t.equal(segs!.n, 1);

  t.same(await twice({ type: 'features.summary', ...base(withT.session_id), summary: SUMMARY }), ['applied', 'applied'], 'summary upserted');
  t.same(await twice({ type: 'features.summary', ...base(withT.session_id), summary: { version: 1 } }), ['skipped', 'skipped'], 'an invalid summary is not stored');

  t.same(await twice({ type: 'session.ended', ...base(withT.session_id), reason: 'completed', totals: { seconds_in: 5, seconds_out: 4, provider_seconds: 5.25 } }), ['applied', 'duplicate']);
  const [s2] = await su`select status, end_reason from sessions where id = ${withT.session_id}`;
  t.match(s2, { status: 'ended', end_reason: 'completed' });
  const hooks = await su`select event_type from webhook_deliveries order by event_type`;
  t.same(hooks.map((h) => h.event_type), ['report.ready', 'session.ended'], 'one webhook per announced fact');

  t.equal(await applyGatewayEvent(deps, { type: 'usage.tick', ...base(newId()), seq: 0, delta: { seconds_in: 1, seconds_out: 0, provider_seconds: 1 }, final: true }), 'unknown_session', 'an unknown session is acknowledged, not retried forever');
  t.equal(await applyGatewayEvent(deps, { type: 'tool.call', ...base(withT.session_id), name: 'lookup', ok: true, duration_ms: 12 }), 'skipped');
});
