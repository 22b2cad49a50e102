/** Transcripts and recordings at rest (envelope encryption, rotation, consent gating), session reports, usage, CSV. */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadControlConfig } from '../../control/src/config.ts';
import { appendTranscript, readTranscript } from '../../control/src/services/transcripts.ts';
import { saveRecording } from '../../control/src/services/recordings.ts';
import { storeFeaturesSummary } from '../../control/src/services/reports.ts';
import { recordUsage } from '../../control/src/services/billing.ts';
import { keyringOf, rewrapDataKeys, rotateTenantDataKey } from '../../control/src/services/envelope.ts';
import { markSessionActive, markSessionEnded } from '../../control/src/services/sessions.ts';
import { withTenant } from '../../control/src/db/client.ts';
import type { Principal } from '../../control/src/types.ts';
import { permissionsOf } from '../../control/src/services/roles.ts';
import { startTestControl, EXT_ENV, grant, credit, newSession, userWithRole } from './helpers.ts';

const KEY_A = randomBytes(32).toString('base64');
const KEY_B = randomBytes(32).toString('base64');
const SECRET_TEXT = 'my birthday is the ninth of May, zebra-quartz';

const SUMMARY = {
  version: 1, duration_s: 62.5, silence_s: 10, overlap_s: 1.5, overlap_ratio: 0.03, interruptions: [{ by: 'agent', of: 'c-1', t_ms: 1200 }],
  response_gaps: { count: 4, mean_ms: 640, median_ms: 600 },
  participants: [{
    participant: 'c-1', kind: 'human', talk_time_s: 30, talk_share: 0.58, turns: 6, mean_turn_s: 5, overlap_s: 1, overlap_ratio: 0.03, interruptions_made: 0,
    interrupted_by_others: 1, syllables: 120, speaking_rate_syll_per_s: 4, words: 80, words_per_minute: 160, pitch: null, speech_level_dbfs: -24, nudges: 0,
  }],
  nudges: { SLOW_DOWN: 0, LET_THEM_FINISH: 0, SPEAK_UP: 0, GIVE_SPACE: 0 },
};

t.test('content at rest and reports', async (t) => {
  const recDir = await mkdtemp(path.join(tmpdir(), 'sb-rec-'));
  const env = { ...EXT_ENV, MASTER_KEY: KEY_A, RECORDINGS_DIR: recDir };
  const c = await startTestControl(t, env);
  const cfgA = loadControlConfig({ DATABASE_URL: c.db.url, ...env });
  const owner = await c.signup();
  const su = c.db.superuser();
  const ownerP: Principal = { kind: 'user', tenantId: owner.tenantId, userId: owner.userId, role: 'owner', permissions: permissionsOf('owner') };
  const actor = { type: 'user' as const, id: owner.userId, requestId: null };
  await credit(c, owner.access, 50_000_000);
  for (const p of ['voice_processing', 'transcript_storage', 'recording']) await grant(c, owner.access, p, 'c-1');
  await grant(c, owner.access, 'voice_processing', 'c-2');
  const withT = await newSession(c, owner.access, 'c-1', { recording: true });
  const without = await newSession(c, owner.access, 'c-2');
  t.ok(withT.purposes.includes('transcript_storage'));

  t.test('transcripts: stored only with consent, ciphertext in the database, audited decrypting read', async (t) => {
    const r1 = await appendTranscript({ db: c.control.db, config: cfgA }, withT.session_id, { role: 'user', text: SECRET_TEXT, start_ms: 0, end_ms: 1800, participant: 'c-1' }, 'tr-1');
    t.equal(r1.stored, true);
    const dup = await appendTranscript({ db: c.control.db, config: cfgA }, withT.session_id, { role: 'user', text: SECRET_TEXT, start_ms: 0, end_ms: 1800 }, 'tr-1');
    t.same(dup, { stored: false, reason: 'duplicate' });
    await appendTranscript({ db: c.control.db, config: cfgA }, withT.session_id, { role: 'agent', text: 'Thank you, noted.', start_ms: 2000, end_ms: 3000 }, 'tr-2');
    const no = await appendTranscript({ db: c.control.db, config: cfgA }, without.session_id, { role: 'user', text: 'not kept', start_ms: 0, end_ms: 10 }, 'tr-3');
    t.same(no, { stored: false, reason: 'no_consent' });
    const [n] = await su`select count(*)::int as n from transcript_segments where session_id = ${without.session_id}`;
    t.equal(n!.n, 0);

    const rows = await su<{ ciphertext: Buffer; nonce: Buffer }[]>`select ciphertext, nonce from transcript_segments where session_id = ${withT.session_id}`;
    t.equal(rows.length, 2);
    for (const r of rows) {
      t.notOk(r.ciphertext.includes(Buffer.from('zebra')), 'no plaintext in the ciphertext column');
      t.equal(r.nonce.length, 12);
    }
    // and nowhere else as text
    const [hit] = await su`select count(*)::int as n from transcript_segments x where row_to_json(x)::text ilike '%zebra%'`;
    t.equal(hit!.n, 0);
    const wrapped = await su<{ wrapped: Buffer }[]>`select wrapped from tenant_data_keys where tenant_id = ${owner.tenantId}`;
    t.equal(wrapped[0]!.wrapped.length, 60, 'data key stored wrapped only');

    const read = await c.req('GET', `/v1/sessions/${withT.session_id}/transcript`, { token: owner.access });
    t.equal(read.status, 200);
    t.same(read.body.segments.map((s: { text: string }) => s.text), [SECRET_TEXT, 'Thank you, noted.']);
    t.equal(read.body.segments[0].participant, 'c-1');
    const audit = await su`select count(*)::int as n from audit_log where tenant_id = ${owner.tenantId} and action = 'transcript.read' and target_id = ${withT.session_id}`;
    t.equal(audit[0]!.n, 1, 'read audited');
    const monitor = await userWithRole(c, owner.access, 'monitor');
    t.equal((await c.req('GET', `/v1/sessions/${withT.session_id}/transcript`, { token: monitor.token })).status, 403);
    const other = await c.signup();
    t.equal((await c.req('GET', `/v1/sessions/${withT.session_id}/transcript`, { token: other.access })).status, 404);
  });

  t.test('key rotation: new data key version and master-key re-wrap keep old transcripts readable', async (t) => {
    const ringA = await keyringOf(cfgA);
    const v = await withTenant(c.control.db, owner.tenantId, (tx) => rotateTenantDataKey(tx, ringA, owner.tenantId));
    t.equal(v.version, 2);
    await appendTranscript({ db: c.control.db, config: cfgA }, withT.session_id, { role: 'user', text: 'after rotation', start_ms: 4000, end_ms: 5000 }, 'tr-4');
    const keys = await su<{ key_id: string }[]>`select distinct key_id from transcript_segments where session_id = ${withT.session_id}`;
    t.equal(keys.length, 2, 'segments under two data-key versions');
    const before = await readTranscript(c.control.db, cfgA, ownerP, actor, withT.session_id);
    t.same(before.segments.map((s) => s.text), [SECRET_TEXT, 'Thank you, noted.', 'after rotation']);

    // master rotation: B current, A retired; data keys re-wrapped, content untouched
    const cfgB = loadControlConfig({ DATABASE_URL: c.db.url, ...env, MASTER_KEY: KEY_B, MASTER_KEYS_PREVIOUS: KEY_A });
    const ctBefore = await su<{ ciphertext: Buffer }[]>`select ciphertext from transcript_segments where session_id = ${withT.session_id} order by id`;
    const n = await rewrapDataKeys(c.control.db, await keyringOf(cfgB));
    t.equal(n, 2, 'both data keys re-wrapped');
    t.equal(await rewrapDataKeys(c.control.db, await keyringOf(cfgB)), 0, 'idempotent');
    const ctAfter = await su<{ ciphertext: Buffer }[]>`select ciphertext from transcript_segments where session_id = ${withT.session_id} order by id`;
    t.same(ctAfter.map((r) => r.ciphertext.toString('hex')), ctBefore.map((r) => r.ciphertext.toString('hex')), 'content not re-encrypted');
    const cfgOnlyB = loadControlConfig({ DATABASE_URL: c.db.url, ...env, MASTER_KEY: KEY_B });
    const after = await readTranscript(c.control.db, cfgOnlyB, ownerP, actor, withT.session_id);
    t.same(after.segments.map((s) => s.text), [SECRET_TEXT, 'Thank you, noted.', 'after rotation'], 'readable with the new master key alone');
    const cfgOnlyA = loadControlConfig({ DATABASE_URL: c.db.url, ...env, MASTER_KEY: KEY_A, DATA_DIR: '/tmp/other' });
    await t.rejects(readTranscript(c.control.db, cfgOnlyA, ownerP, actor, withT.session_id), /not configured/, 'the retired master key no longer unwraps');
  });

  t.test('recordings: only with recording consent, encrypted in the local store', async (t) => {
    const audio = randomBytes(3200);
    const cfgB = loadControlConfig({ DATABASE_URL: c.db.url, ...env, MASTER_KEY: KEY_B });
    await t.rejects(saveRecording({ db: c.control.db, config: cfgB }, without.session_id, { contentType: 'audio/wav', data: audio }), /recording consent/);
    const rec = await saveRecording({ db: c.control.db, config: cfgB }, withT.session_id, { contentType: 'audio/wav', data: audio });
    t.equal(rec.bytes, 3200);
    const files = await readdir(path.join(recDir, owner.tenantId, withT.session_id));
    t.equal(files.length, 1);
    const stored = await readFile(path.join(recDir, owner.tenantId, withT.session_id, files[0]!));
    t.notOk(stored.subarray(0, 3200).equals(audio), 'the store holds ciphertext');
    const list = await c.req('GET', `/v1/sessions/${withT.session_id}/recordings`, { token: owner.access });
    t.equal(list.body.data.length, 1);
  });

  t.test('session report: ledger-derived cost, consent snapshot, features only once they arrive', async (t) => {
    const empty = await c.req('GET', `/v1/sessions/${withT.session_id}/report`, { token: owner.access });
    t.equal(empty.status, 200);
    t.equal(empty.body.features, null, 'no features invented');
    t.equal(empty.body.cost_micro, 0);
    await markSessionActive(c.control.db, { tenantId: owner.tenantId, sessionId: withT.session_id, at: new Date(Date.now() - 60_000) });
    await recordUsage({ db: c.control.db, bus: c.bus, config: { BILLING_TRIAL_GRANT_MICRO: 0 } }, withT.session_id, { seconds_in: 20, seconds_out: 18, provider_seconds: 21.5 }, 'u-1');
    await recordUsage({ db: c.control.db, bus: c.bus, config: { BILLING_TRIAL_GRANT_MICRO: 0 } }, withT.session_id, { seconds_in: 10, seconds_out: 9, provider_seconds: 9.5 }, 'u-2');
    const bad = await storeFeaturesSummary(c.control.db, withT.session_id, { version: 1 });
    t.equal(bad.stored, false, 'an invalid summary is not stored');
    t.ok(bad.issues!.length > 0);
    t.same((await storeFeaturesSummary(c.control.db, withT.session_id, SUMMARY)).stored, true);
    await markSessionEnded(c.control.db, { tenantId: owner.tenantId, sessionId: withT.session_id, reason: 'completed' });
    const r = await c.req('GET', `/v1/sessions/${withT.session_id}/report`, { token: owner.access });
    t.equal(r.body.billed_seconds, 31.5);
    t.equal(r.body.cost_micro, 31_500 * 100 / 1000, 'echo default 100 micro/s');
    t.same([...r.body.consent_snapshot].sort(), ['recording', 'transcript_storage', 'voice_processing']);
    t.same(r.body.transcript, { stored: true, segments: 3 });
    t.equal(r.body.recordings, 1);
    t.same(r.body.features, SUMMARY);
    t.ok(r.body.duration_s >= 59 && r.body.duration_s < 120);
    t.same(r.body.participants, ['c-1']);
  });

  t.test('usage grouped by day, provider and participant; CSV streamed and masked by role', async (t) => {
    await markSessionActive(c.control.db, { tenantId: owner.tenantId, sessionId: without.session_id });
    await recordUsage({ db: c.control.db, bus: c.bus, config: { BILLING_TRIAL_GRANT_MICRO: 0 } }, without.session_id, { seconds_in: 1, seconds_out: 1, provider_seconds: 2 }, 'u-3');
    const byProvider = await c.req('GET', '/v1/usage?group_by=provider', { token: owner.access });
    t.equal(byProvider.status, 200);
    t.same(byProvider.body.data, [{ key: 'echo', sessions: 2, billed_seconds: 33.5, cost_micro: 3350 }]);
    t.same(byProvider.body.total, { sessions: 2, billed_seconds: 33.5, cost_micro: 3350 });
    const byDay = await c.req('GET', '/v1/usage?group_by=day', { token: owner.access });
    t.equal(byDay.body.data[0].key, new Date().toISOString().slice(0, 10));
    const byP = await c.req('GET', '/v1/usage?group_by=participant', { token: owner.access });
    t.same(byP.body.data.map((x: { key: string }) => x.key), ['c-1', 'c-2']);
    const future = await c.req('GET', `/v1/usage?from=${encodeURIComponent(new Date(Date.now() + 3600_000).toISOString())}`, { token: owner.access });
    t.same(future.body.data, []);
    t.equal((await c.req('GET', '/v1/usage?group_by=week', { token: owner.access })).status, 400);

    const csv = await fetch(`${c.url}/v1/reports/sessions.csv`, { headers: { authorization: `Bearer ${owner.access}` } });
    t.equal(csv.status, 200);
    t.match(csv.headers.get('content-type'), /text\/csv/);
    const lines = (await csv.text()).trim().split('\r\n');
    t.equal(lines[0]!.split(',')[0], 'session_id');
    t.equal(lines.length, 3, 'header + 2 sessions');
    t.ok(lines.some((l) => l.includes(',c-1,')), 'owner sees participants');
    const monitor = await userWithRole(c, owner.access, 'monitor');
    const masked = await (await fetch(`${c.url}/v1/reports/sessions.csv`, { headers: { authorization: `Bearer ${monitor.token}` } })).text();
    t.notOk(masked.includes(',c-1,'), 'monitor sees masked participants');
    t.ok(masked.includes(',***,'));
    const maskedUsage = await c.req('GET', '/v1/usage?group_by=participant', { token: monitor.token });
    t.same(maskedUsage.body.data.map((x: { key: string }) => x.key), ['***', '***']);
    const none = await (await fetch(`${c.url}/v1/reports/sessions.csv?from=${encodeURIComponent(new Date(Date.now() + 3600_000).toISOString())}`, { headers: { authorization: `Bearer ${owner.access}` } })).text();
    t.equal(none.trim().split('\r\n').length, 1, 'time filter');
    const member = await userWithRole(c, owner.access, 'member');
    t.equal((await c.req('GET', '/v1/reports/sessions.csv', { token: member.token })).status, 403);
  });
});
