/** Helpers shared by the issue-4 control tests (consents, sessions, users with a role). */
import { startTestControl, TEXT_SHA, TEST_PASSWORD, type TestControl } from '../helpers/control-app.ts';

export { startTestControl, TEXT_SHA, TEST_PASSWORD, type TestControl };

/** Tests start with an empty account unless they grant credit themselves. */
export const EXT_ENV = { BILLING_TRIAL_GRANT_MICRO: '0' };

export async function grant(c: TestControl, token: string, purpose: string, external_id: string) {
  const r = await c.req('PUT', `/v1/consents/${encodeURIComponent(purpose)}`, { token, body: { subject: { external_id }, version: 'v1', text_sha256: TEXT_SHA } });
  if (r.status !== 200) throw new Error(`grant failed ${r.status} ${JSON.stringify(r.body)}`);
}

export async function credit(c: TestControl, token: string, amount_micro: number) {
  const r = await c.req('POST', '/v1/billing/grants', { token, body: { amount_micro } });
  if (r.status !== 201) throw new Error(`credit failed ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

export async function newSession(c: TestControl, token: string, external_id: string, extra: Record<string, unknown> = {}) {
  const r = await c.req('POST', '/v1/sessions', { token, body: { provider: 'echo', participant: { external_id }, ...extra } });
  if (r.status !== 201) throw new Error(`session failed ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as { session_id: string; token: string; gateway_url: string; purposes: string[] };
}

export async function userWithRole(c: TestControl, ownerToken: string, role: string) {
  const email = `${role}-${Math.random().toString(36).slice(2)}@example.test`;
  const u = await c.req('POST', '/v1/users', { token: ownerToken, body: { email, password: TEST_PASSWORD, role } });
  if (u.status !== 201) throw new Error(JSON.stringify(u.body));
  const l = await c.req('POST', '/v1/auth/login', { body: { email, password: TEST_PASSWORD } });
  return { token: l.body.access_token as string, id: u.body.id as string, email };
}
