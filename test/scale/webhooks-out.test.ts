/**
 * Webhooks out: an endpoint that fails twice then succeeds receives exactly one accepted delivery of
 * `session.ended`, signed so that the receiver's check verifies; retries follow the (test-shortened)
 * backoff; a redelivered gateway event queues nothing new; the delivery log and manual redeliver work.
 */
import t from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../../shared/src/logger.ts';
import { newId } from '../../shared/src/ids.ts';
import type { GatewayEvent } from '../../shared/src/bus/index.ts';
import { applyGatewayEvent } from '../../control/src/services/gateway-events.ts';
import { deliverDue, enqueueWebhook, verifySignature } from '../../control/src/services/webhooks-out.ts';
import { startWebhookDelivery } from '../../control/src/jobs/webhook-delivery.ts';
import { startTestControl, TEXT_SHA } from '../helpers/control-app.ts';
import { waitUntil, sleep } from './helpers.ts';

interface Hit { status: number; body: string; signature: string }

t.test('webhook endpoint failing twice then succeeding: one accepted, signed delivery', async (t) => {
  const hits: Hit[] = [];
  let failuresLeft = 2;
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      const status = failuresLeft-- > 0 ? 503 : 200;
      hits.push({ status, body, signature: String(req.headers['switchboard-signature'] ?? '') });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => receiver.close(() => r())));
  const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;

  const ctl = await startTestControl(t);
  // the control plane's own keyring (secrets are sealed with it); the receiver is on loopback
  const config = { ...ctl.config, WEBHOOK_BACKOFF_BASE_MS: 200, WEBHOOK_MAX_AGE_MS: 24 * 3600 * 1000, WEBHOOK_TIMEOUT_MS: 2000, EGRESS_ALLOW_PRIVATE: true };
  const owner = await ctl.signup();
  const created = await ctl.req('POST', '/v1/webhooks', { token: owner.access, body: { url: hookUrl, events: ['session.ended'] } });
  t.equal(created.status, 201);
  const secret = created.body.secret as string;
  t.match(secret, /^whsec_/, 'the secret is shown at creation');
  const listed = await ctl.req('GET', '/v1/webhooks', { token: owner.access });
  t.notOk('secret' in listed.body.data[0], 'and never again');
  const [stored] = await ctl.db.superuser()<{ secret: string | null; secret_ciphertext: Buffer }[]>`select secret, secret_ciphertext from webhook_endpoints where id = ${created.body.id}`;
  t.equal(stored!.secret, null, 'the database holds no plaintext secret');
  t.notOk(stored!.secret_ciphertext.includes(Buffer.from(secret)), 'only its sealed form');

  await ctl.req('PUT', '/v1/consents/voice_processing', { token: owner.access, body: { version: '1', text_sha256: TEXT_SHA } });
  const s = await ctl.req('POST', '/v1/sessions', { token: owner.access, body: { provider: 'echo' } });
  t.equal(s.status, 201);
  const sessionId = s.body.session_id as string;
  const log = createLogger('webhooks-test', 'silent');
  const deps = { db: ctl.control.db, bus: ctl.bus, config, log, webhooks: config };
  const ended: GatewayEvent = {
    type: 'session.ended', id: newId(), session_id: sessionId, tenant_id: owner.tenantId, pod_id: 'gw-test', ts: Date.now(),
    reason: 'client_closed', totals: { seconds_in: 1, seconds_out: 1, provider_seconds: 1 },
  };
  t.equal(await applyGatewayEvent(deps, ended), 'applied');
  t.equal(await applyGatewayEvent(deps, ended), 'duplicate', 'the same event again (bus redelivery)');

  const job = startWebhookDelivery(ctl.control.db, config, log, 50);
  t.teardown(() => job.stop());
  await waitUntil('an accepted delivery', async () => hits.some((h) => h.status === 200), 15_000, 50);
  await sleep(1000); // anything sent twice would arrive meanwhile
  t.same(hits.map((h) => h.status), [503, 503, 200], 'two failures, then exactly one accepted delivery');
  const ok = hits[2]!;
  t.ok(verifySignature(secret, ok.signature, ok.body), 'Switchboard-Signature verifies with the secret');
  t.notOk(verifySignature(secret, ok.signature, ok.body + ' '), 'and not for another body');
  const payload = JSON.parse(ok.body);
  t.match(payload, { type: 'session.ended', data: { session_id: sessionId, status: 'ended', reason: 'client_closed' } });
  t.equal(new Set(hits.map((h) => JSON.parse(h.body).id)).size, 1, 'every attempt carried the same delivery id');

  const endpointId = created.body.id as string;
  const log1 = await ctl.req('GET', `/v1/webhooks/${endpointId}/deliveries`, { token: owner.access });
  t.equal(log1.body.data.length, 1, 'one delivery in the log');
  t.match(log1.body.data[0], { status: 'delivered', attempts: 3, last_status: 200, event_type: 'session.ended' });

  const again = await ctl.req('POST', `/v1/webhooks/${endpointId}/deliveries/${log1.body.data[0].id}/redeliver`, { token: owner.access });
  t.equal(again.body.status, 'pending', 'manual redeliver queues it again');
  await waitUntil('the redelivery', async () => hits.length === 4, 5000, 50);
  t.equal(hits[3]!.status, 200);
  t.ok(verifySignature(secret, hits[3]!.signature, hits[3]!.body), 'redelivery signed too');
});

t.test('an endpoint stored before secrets were sealed (plaintext) is still delivered and signed', async (t) => {
  const hits: Hit[] = [];
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      hits.push({ status: 200, body, signature: String(req.headers['switchboard-signature'] ?? '') });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => receiver.close(() => r())));
  const ctl = await startTestControl(t);
  const owner = await ctl.signup();
  const legacySecret = 'whsec_legacy_plaintext_secret';
  await ctl.db.superuser()`insert into webhook_endpoints (id, tenant_id, url, events, secret)
    values (${newId()}, ${owner.tenantId}, ${`http://127.0.0.1:${(receiver.address() as AddressInfo).port}/legacy`}, ${['report.ready']}, ${legacySecret})`;
  const config = { ...ctl.config, EGRESS_ALLOW_PRIVATE: true };
  t.equal(await enqueueWebhook(ctl.control.db, config, owner.tenantId, 'report.ready', 'legacy-1', { session_id: 'x' }), 1);
  t.same(await deliverDue(ctl.control.db, config, createLogger('webhooks-test', 'silent')), ['delivered']);
  t.equal(hits.length, 1);
  t.ok(verifySignature(legacySecret, hits[0]!.signature, hits[0]!.body), 'signed with the stored plaintext secret');
});
