/**
 * Egress to tenant-chosen URLs (HTTP tools, webhooks) refuses loopback, private and special-purpose
 * addresses by default (SSRF): IP literals, names that resolve to them, IPv4-mapped IPv6; redirects
 * are not followed; the default policy keeps a webhook aimed at loopback from ever being sent.
 */
import t from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../../shared/src/logger.ts';
import { egressPost, EgressBlockedError, isSpecialAddress } from '../../control/src/services/egress.ts';
import { deliverDue, enqueueWebhook } from '../../control/src/services/webhooks-out.ts';
import { loadControlConfig } from '../../control/src/config.ts';
import { startTestControl } from '../helpers/control-app.ts';

async function receiver(t: { teardown(fn: () => unknown): void }, handler: http.RequestListener) {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { hits, port: (server.address() as AddressInfo).port };
}

const post = { headers: { 'content-type': 'application/json' }, body: '{"x":1}', timeoutMs: 2000 };

t.test('special-purpose addresses', async (t) => {
  for (const a of ['127.0.0.1', '127.255.0.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1',
    '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', 'ff02::1', '::ffff:127.0.0.1',
    '::ffff:7f00:1', '::ffff:a9fe:a9fe', '64:ff9b::a00:1', 'not-an-address']) {
    t.ok(isSpecialAddress(a), `${a} is refused`);
  }
  for (const a of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
    t.notOk(isSpecialAddress(a), `${a} is public`);
  }
});

t.test('egressPost refuses loopback by literal and by name, and allows it when told to', async (t) => {
  const r = await receiver(t, (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
  await t.rejects(egressPost(`http://127.0.0.1:${r.port}/a`, post, { allowPrivate: false }), EgressBlockedError, 'IPv4 literal');
  await t.rejects(egressPost(`http://[::ffff:127.0.0.1]:${r.port}/b`, post, { allowPrivate: false }), EgressBlockedError, 'IPv4-mapped IPv6 literal');
  await t.rejects(egressPost(`http://localhost:${r.port}/c`, post, { allowPrivate: false }), EgressBlockedError, 'a name resolving to loopback, checked at connect');
  await t.rejects(egressPost(`file:///etc/passwd`, post, { allowPrivate: false }), EgressBlockedError, 'only http(s)');
  t.same(r.hits, [], 'nothing reached the loopback server');
  const ok = await egressPost(`http://localhost:${r.port}/d`, post, { allowPrivate: true });
  t.same(ok, { status: 200, body: '{"ok":true}' }, 'allowed by the operator: the request is made');
  t.same(r.hits, ['/d']);
});

t.test('redirects are not followed; oversized answers are cut off', async (t) => {
  const r = await receiver(t, (req, res) => {
    if (req.url === '/big') res.writeHead(200).end('x'.repeat(10_000));
    else res.writeHead(302, { location: `http://127.0.0.1:1/inner` }).end();
  });
  const redirected = await egressPost(`http://127.0.0.1:${r.port}/hop`, post, { allowPrivate: true });
  t.equal(redirected.status, 302, 'the 3xx comes back as it is');
  t.same(r.hits, ['/hop'], 'and its location was not requested');
  await t.rejects(egressPost(`http://127.0.0.1:${r.port}/big`, { ...post, maxResponseBytes: 1000 }, { allowPrivate: true }), /larger than 1000 bytes/);
});

t.test('with the default policy a webhook aimed at loopback is never sent, and the log says why', async (t) => {
  const r = await receiver(t, (_req, res) => res.writeHead(200).end());
  const c = await startTestControl(t);
  const owner = await c.signup();
  const hook = await c.req('POST', '/v1/webhooks', { token: owner.access, body: { url: `http://127.0.0.1:${r.port}/hook`, events: ['session.ended'] } });
  t.equal(hook.status, 201);
  t.equal(loadControlConfig({}).EGRESS_ALLOW_PRIVATE, false, 'the default refuses private egress');
  const config = { ...c.config, EGRESS_ALLOW_PRIVATE: false };
  t.equal(await enqueueWebhook(c.control.db, config, owner.tenantId, 'session.ended', 'k1', { session_id: 'x' }), 1);
  t.same(await deliverDue(c.control.db, config, createLogger('egress-test', 'silent')), ['retry']);
  t.same(r.hits, [], 'the receiver on loopback got nothing');
  const log = await c.req('GET', `/v1/webhooks/${hook.body.id}/deliveries`, { token: owner.access });
  t.match(log.body.data[0], { status: 'pending', attempts: 1, last_status: null, last_error: /^blocked: 127\.0\.0\.1 is not a public address/ });
});
