/**
 * `npm start` still runs the whole system in one process on embedded defaults (PGlite, in-process
 * bus): a session streams a little corpus audio and its usage reaches the ledger through the
 * in-process event consumer, and the session's state follows the gateway's events.
 */
import t from 'tap';
import { freePort, openSession, signupTenant, spawnService, streamSpeech, tempDir, waitUntil } from './helpers.ts';

t.test('embedded start: one process, in-process bus, usage applied', async (t) => {
  const [controlPort, gatewayPort] = [await freePort(), await freePort()];
  const env: Record<string, string> = {
    DATA_DIR: tempDir(t, 'embedded'), CONTROL_PORT: String(controlPort), GATEWAY_PORT: String(gatewayPort),
    GATEWAY_HOST: '127.0.0.1', LOG_LEVEL: 'warn', SCRYPT_COST: '1024', GATEWAY_USAGE_TICK_MS: '1000', GATEWAY_FEATURES: 'false',
    // embedded defaults: no external database or Redis even if the caller's environment names them
    DATABASE_URL: '', REDIS_URL: '',
  };
  const proc = await spawnService(t, 'start.ts', env, 60_000, /gateway\s+(ws:\/\/\S+)/);
  const out = proc.output();
  const api = new RegExp(`API\\s+(http://\\S+:${controlPort})`).exec(out)?.[1];
  const gw = /gateway\s+(ws:\/\/\S+)/.exec(out)?.[1];
  t.ok(api && gw, 'banner names the API and the gateway');
  const tenant = await signupTenant(api!);
  const pods = (await tenant.ok('GET', '/v1/ops/gateways')).data as Array<{ pod_id: string; address: string }>;
  t.match(pods, [{ pod_id: 'gw-local', address: gw }], 'the embedded gateway is in the registry');
  const s = await openSession(tenant, gw!);
  await streamSpeech(s.client, 2.5);
  s.client.ws.close(1000, 'done');
  await s.client.closed;

  let ledger: Array<{ kind: string; session_id: string | null; billed_ms: number | null }> = [];
  await waitUntil('usage in the ledger and the session ended', async () => {
    ledger = (await tenant.ok('GET', `/v1/billing/ledger?session_id=${s.id}&kind=usage`)).data;
    const session = await tenant.ok('GET', `/v1/sessions/${s.id}`);
    return ledger.length > 0 && session.status === 'ended';
  }, 20_000, 250);
  const billed = ledger.reduce((a, l) => a + (l.billed_ms ?? 0), 0);
  t.ok(billed >= 2500, `usage debited through the in-process bus (${billed} ms billed for 2.5 s of audio)`);
  t.equal(await proc.kill('SIGTERM'), 0, 'stops cleanly on SIGTERM');
});
