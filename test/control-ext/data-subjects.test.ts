/** Data-subject export and erasure (nothing personal left, audit chain still verifies), self-service, retention job. */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadControlConfig } from '../../control/src/config.ts';
import { appendTranscript } from '../../control/src/services/transcripts.ts';
import { saveRecording } from '../../control/src/services/recordings.ts';
import { storeFeaturesSummary } from '../../control/src/services/reports.ts';
import { recordUsage } from '../../control/src/services/billing.ts';
import { storeElevenLabsPostCall } from '../../control/src/services/webhooks-in.ts';
import { runRetention, startRetentionSchedule } from '../../control/src/services/retention.ts';
import { startTestControl, EXT_ENV, grant, credit, newSession, userWithRole, TEST_PASSWORD } from './helpers.ts';

const SUBJECT = '+15559876543';
const OTHER = '+15551110000';
const SPOKEN = 'my secret pet is called Quasimodo-Fennel';

function summaryFor(participant: string) {
  return {
    version: 1, duration_s: 10, silence_s: 1, overlap_s: 0, overlap_ratio: 0, interruptions: [], response_gaps: { count: 0, mean_ms: null, median_ms: null },
    participants: [{ participant, kind: 'human', talk_time_s: 5, talk_share: 1, turns: 1, mean_turn_s: 5, overlap_s: 0, overlap_ratio: 0, interruptions_made: 0,
      interrupted_by_others: 0, syllables: 10, speaking_rate_syll_per_s: 2, words: 5, words_per_minute: 60, pitch: null, speech_level_dbfs: -20, nudges: 0 }],
    nudges: { SLOW_DOWN: 0, LET_THEM_FINISH: 0, SPEAK_UP: 0, GIVE_SPACE: 0 },
  };
}

t.test('data-subject rights', async (t) => {
  const recDir = await mkdtemp(path.join(tmpdir(), 'sb-rec-'));
  const env = { ...EXT_ENV, MASTER_KEY: randomBytes(32).toString('base64'), RECORDINGS_DIR: recDir };
  const c = await startTestControl(t, env);
  const cfg = loadControlConfig({ DATABASE_URL: c.db.url, ...env });
  const owner = await c.signup();
  const su = c.db.superuser();
  const usageDeps = { db: c.control.db, bus: c.bus, config: { BILLING_TRIAL_GRANT_MICRO: 0 } };
  await credit(c, owner.access, 50_000_000);

  // everything a subject can leave behind
  for (const who of [SUBJECT, OTHER]) for (const p of ['voice_processing', 'transcript_storage', 'recording']) await grant(c, owner.access, p, who);
  await grant(c, owner.access, 'provider:openai', SUBJECT);
  t.equal((await c.req('DELETE', `/v1/consents/provider:openai?external_id=${encodeURIComponent(SUBJECT)}`, { token: owner.access })).status, 200);
  const idem = await c.req('POST', '/v1/sessions', {
    token: owner.access, headers: { 'idempotency-key': 'create-1' },
    body: { provider: 'echo', participant: { external_id: SUBJECT }, recording: true, metadata: { caller_name: 'Quasimodo' } },
  });
  t.equal(idem.status, 201);
  const s1 = idem.body as { session_id: string };
  const s2 = await newSession(c, owner.access, SUBJECT);
  const so = await newSession(c, owner.access, OTHER, { recording: true });
  await appendTranscript({ db: c.control.db, config: cfg }, s1.session_id, { role: 'user', text: SPOKEN, start_ms: 0, end_ms: 900, participant: SUBJECT }, 'e-1');
  await appendTranscript({ db: c.control.db, config: cfg }, s1.session_id, { role: 'agent', text: 'Lovely name.', start_ms: 1000, end_ms: 1500 }, 'e-2');
  await appendTranscript({ db: c.control.db, config: cfg }, so.session_id, { role: 'user', text: 'other person speaking', start_ms: 0, end_ms: 900, participant: OTHER }, 'e-3');
  const audio = randomBytes(1000);
  await saveRecording({ db: c.control.db, config: cfg }, s1.session_id, { contentType: 'audio/wav', data: audio });
  await saveRecording({ db: c.control.db, config: cfg }, so.session_id, { contentType: 'audio/wav', data: randomBytes(1000) });
  await storeFeaturesSummary(c.control.db, s1.session_id, summaryFor(SUBJECT));
  await storeElevenLabsPostCall({ db: c.control.db, config: cfg }, {
    type: 'post_call_transcription', data: { conversation_initiation_client_data: { dynamic_variables: { switchboard_session_id: s1.session_id } }, transcript: [{ role: 'user', message: SPOKEN }] },
  });
  await recordUsage(usageDeps, s1.session_id, { seconds_in: 5, seconds_out: 5, provider_seconds: 6 }, 'u-1');
  await recordUsage(usageDeps, s2.session_id, { seconds_in: 1, seconds_out: 1, provider_seconds: 1 }, 'u-2');
  await su`insert into twilio_calls (call_sid, tenant_id, session_id, direction, from_number, to_number, status)
    values (${'CA' + '9'.repeat(32)}, ${owner.tenantId}, ${s2.session_id}, 'inbound', ${SUBJECT}, '+15550001000', 'completed')`;
  await c.req('GET', `/v1/consents?external_id=${encodeURIComponent(SUBJECT)}`, { token: owner.access });

  t.test('export holds every item created for the subject', async (t) => {
    const agent = await userWithRole(c, owner.access, 'agent');
    t.equal((await c.req('GET', `/v1/data-subjects/${encodeURIComponent(SUBJECT)}/export`, { token: agent.token })).status, 403);
    const r = await c.req('GET', `/v1/data-subjects/${encodeURIComponent(SUBJECT)}/export`, { token: owner.access });
    t.equal(r.status, 200, JSON.stringify(r.body));
    const x = r.body;
    t.same(x.profile, { external_id: SUBJECT });
    t.equal(x.consents.length, 5, '4 grants + 1 withdrawal');
    t.same(x.sessions.map((s: { id: string }) => s.id).sort(), [s1.session_id, s2.session_id].sort());
    t.equal(x.sessions.find((s: { id: string }) => s.id === s1.session_id).metadata.caller_name, 'Quasimodo');
    t.same(x.transcripts[s1.session_id].map((s: { text: string }) => s.text), [SPOKEN, 'Lovely name.'], 'decrypted transcripts');
    t.equal(x.recordings.length, 1);
    t.equal(x.recordings[0].data_base64, audio.toString('base64'), 'the recording itself, decrypted');
    t.equal(x.features.length, 1);
    t.equal(x.post_call.length, 1);
    t.same(x.post_call[0].content.transcript, [{ role: 'user', message: SPOKEN }]);
    t.equal(x.ledger.length, 2);
    t.equal(x.calls.length, 1);
    t.ok(x.pseudonym.startsWith('ps_'));
    const actions = x.audit.map((a: { action: string }) => a.action);
    for (const a of ['consent.granted', 'consent.withdrawn', 'consent.read', 'session.created']) t.ok(actions.includes(a), `audit ${a}`);
    t.notOk(JSON.stringify(x).includes('other person speaking'), 'nothing of another subject');
  });

  t.test('erasure leaves none of their personal data; ledger and audit stay, pseudonymised and verifiable', async (t) => {
    const ledgerBefore = (await su`select count(*)::int as n from credit_ledger where tenant_id = ${owner.tenantId}`)[0]!.n;
    const r = await c.req('DELETE', `/v1/data-subjects/${encodeURIComponent(SUBJECT)}`, { token: owner.access });
    t.equal(r.status, 200, JSON.stringify(r.body));
    t.match(r.body, { sessions: 2, transcript_segments: 2, recordings: 1, post_call: 1, features: 1, consent_records: 5 });

    // search every text-like column of every table for anything identifying them
    const cols = await su<{ table_name: string; column_name: string }[]>`
      select c.table_name, c.column_name from information_schema.columns c join information_schema.tables tb using (table_schema, table_name)
      where c.table_schema = 'public' and tb.table_type = 'BASE TABLE' and c.data_type in ('text', 'character varying', 'jsonb', 'json', 'ARRAY')`;
    t.ok(cols.length > 40);
    const needles = [SUBJECT, SUBJECT.slice(1), 'Quasimodo', r.body.pseudonym ? null : 'x'].filter(Boolean) as string[];
    for (const { table_name, column_name } of cols) {
      for (const needle of needles) {
        const [hit] = await su.unsafe(`select count(*)::int as n from "${table_name}" where "${column_name}"::text ilike $1`, [`%${needle}%`]);
        t.equal(hit!.n, 0, `${table_name}.${column_name} holds no "${needle}"`);
      }
    }
    const [link] = await su`select count(*)::int as n from subject_pseudonyms where pseudonym = ${r.body.pseudonym}`;
    t.equal(link!.n, 0, 'the pseudonym link is gone');
    t.same(await readdir(path.join(recDir, owner.tenantId, s1.session_id)), [], 'recording file deleted');
    t.equal((await su`select count(*)::int as n from credit_ledger where tenant_id = ${owner.tenantId}`)[0]!.n, ledgerBefore, 'ledger kept');
    const [pseudo] = await su`select count(*)::int as n from audit_log where tenant_id = ${owner.tenantId} and target_id = ${r.body.pseudonym}`;
    t.ok(pseudo!.n >= 5, 'audit rows kept under the pseudonym');
    const v = await c.req('GET', '/v1/audit/verify', { token: owner.access });
    t.same(v.body.ok, true, JSON.stringify(v.body));

    // the other subject is untouched
    const o = await c.req('GET', `/v1/data-subjects/${encodeURIComponent(OTHER)}/export`, { token: owner.access });
    t.same(o.body.transcripts[so.session_id].map((s: { text: string }) => s.text), ['other person speaking']);
    t.equal(o.body.recordings.length, 1);
    const again = await c.req('GET', `/v1/data-subjects/${encodeURIComponent(SUBJECT)}/export`, { token: owner.access });
    t.same([again.body.consents, again.body.sessions, again.body.ledger], [[], [], []], 'nothing links to them any more');
  });

  t.test('self-service export and erasure of a user', async (t) => {
    const member = await userWithRole(c, owner.access, 'member');
    const s = await c.req('POST', '/v1/sessions', { token: member.token, body: { provider: 'echo' } });
    t.equal(s.status, 403, 'needs consent first');
    await c.req('PUT', '/v1/consents/voice_processing', { token: member.token, body: { version: 'v1', text_sha256: 'a'.repeat(64) } });
    const ok = await c.req('POST', '/v1/sessions', { token: member.token, body: { provider: 'echo' } });
    t.equal(ok.status, 201);
    const x = await c.req('GET', '/v1/me/export', { token: member.token });
    t.equal(x.status, 200);
    t.equal(x.body.profile.email, member.email);
    t.equal(x.body.sessions.length, 1);
    t.equal(x.body.consents.length, 1);
    const del = await c.req('DELETE', '/v1/me', { token: member.token });
    t.equal(del.status, 200, JSON.stringify(del.body));
    const login = await c.req('POST', '/v1/auth/login', { body: { email: member.email, password: TEST_PASSWORD } });
    t.equal(login.status, 401);
    const [hit] = await su`select count(*)::int as n from users where email = ${member.email}`;
    t.equal(hit!.n, 0);
    t.equal((await c.req('DELETE', '/v1/me', { token: owner.access })).status, 409, 'the last owner stays');
    t.same((await c.req('GET', '/v1/audit/verify', { token: owner.access })).body.ok, true);
  });

  t.test('retention: old session content and audit rows go; the chain still verifies from its anchor', async (t) => {
    await su`update sessions set ended_at = now() - interval '100 days', status = 'ended' where id = ${so.session_id}`;
    const recent = await newSession(c, owner.access, OTHER);
    await appendTranscript({ db: c.control.db, config: cfg }, recent.session_id, { role: 'user', text: 'recent', start_ms: 0, end_ms: 1 }, 'e-9');
    // age the first 5 audit rows by three years, re-hashing the chain as it would have been written
    await su.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await tx.unsafe(`DO $$ DECLARE r record; prev text := repeat('0', 64); at timestamptz; BEGIN
        FOR r IN SELECT * FROM audit_log WHERE tenant_id = '${owner.tenantId}' ORDER BY seq LOOP
          at := CASE WHEN r.seq <= 5 THEN r.created_at - interval '3 years' ELSE r.created_at END;
          UPDATE audit_log SET created_at = at, prev_hash = prev,
            hash = audit_content_hash(r.tenant_id, r.seq, at, r.actor_type, r.actor_id, r.action, r.target_type, r.target_id, r.request_id, r.data, prev)
          WHERE id = r.id RETURNING hash INTO prev;
        END LOOP; END $$`);
    });
    t.same((await c.req('GET', '/v1/audit/verify', { token: owner.access })).body.ok, true);
    const res = await runRetention(c.control.db, cfg);
    t.match(res, { transcript_segments: 1, recordings: 1, audit_rows: 5 });
    const left = await su`select session_id from transcript_segments where tenant_id = ${owner.tenantId}`;
    t.same(left.map((r) => r.session_id), [recent.session_id], 'recent content kept');
    const v = await c.req('GET', '/v1/audit/verify', { token: owner.access });
    t.same(v.body.ok, true, JSON.stringify(v.body));
    const [first] = await su`select min(seq)::int as s from audit_log where tenant_id = ${owner.tenantId}`;
    t.equal(first!.s, 6);
    await c.req('GET', '/v1/billing/balance', { token: owner.access });
    await credit(c, owner.access, 1); // appends audit rows after the prune
    t.same((await c.req('GET', '/v1/audit/verify', { token: owner.access })).body.ok, true, 'appends continue the anchored chain');
    await t.rejects(su`select audit_prune(now())`, /30 days/, 'the database refuses to prune recent history');
    await t.rejects(su`delete from audit_log where tenant_id = ${owner.tenantId}`, /append-only/);
    t.match(await runRetention(c.control.db, cfg), { transcript_segments: 0, recordings: 0, post_call: 0, features: 0, audit_rows: 0 }, 'a second run finds nothing');
    // the in-process schedule runs at once and then every RETENTION_INTERVAL_MIN; off at 0
    const logs: unknown[] = [];
    const logger = { info: (o: unknown) => logs.push(o), error: (o: unknown) => logs.push(o) } as never;
    await startRetentionSchedule(c.control.db, { ...cfg, RETENTION_INTERVAL_MIN: 0 }, logger)();
    t.equal(logs.length, 0, 'disabled by default');
    const stop = startRetentionSchedule(c.control.db, { ...cfg, RETENTION_INTERVAL_MIN: 60 }, logger);
    await stop();
    t.match(logs, [{ retention: { audit_rows: 0 } }], 'one run on start, awaited by stop');
  });
});
