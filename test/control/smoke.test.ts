import t from 'tap';
import { startTestControl } from '../helpers/control-app.ts';

t.test('smoke', async (t) => {
  const c = await startTestControl(t);
  const h = await c.req('GET', '/healthz');
  t.equal(h.status, 200);
  const s = await c.signup();
  const me = await c.req('GET', '/v1/me', { token: s.access });
  t.equal(me.status, 200, JSON.stringify(me.body));
  const g = await c.req('PUT', '/v1/consents/voice_processing', { token: s.access, body: { subject: { external_id: 'caller-1' }, version: 'v1', text_sha256: 'a'.repeat(64) } });
  t.equal(g.status, 200, JSON.stringify(g.body));
  const ss = await c.req('POST', '/v1/sessions', { token: s.access, body: { provider: 'echo', participant: { external_id: 'caller-1' } } });
  t.equal(ss.status, 201, JSON.stringify(ss.body));
  const v = await c.req('GET', '/v1/audit/verify', { token: s.access });
  t.same(v.body.ok, true, JSON.stringify(v.body));
});
