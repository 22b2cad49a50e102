/**
 * Start a control plane for one test file: its own database, port 0, Redis key prefix, low scrypt
 * cost; plus small HTTP helpers (signup, login, JSON requests).
 */
import { randomBytes } from 'node:crypto';
import { InProcessCommandBus, type GatewayCommand } from '../../shared/src/bus/index.ts';
import { createLogger } from '../../shared/src/logger.ts';
import { loadControlConfig, type ControlConfig } from '../../control/src/config.ts';
import { startControl, type ControlHandle } from '../../control/src/server.ts';
import { createTestDb, type TestDb } from './db.ts';

interface Teardown { teardown(fn: () => unknown): void }

export interface TestControl {
  control: ControlHandle;
  /** the configuration the control plane runs with (its keyring, for jobs a test drives itself) */
  config: Readonly<ControlConfig>;
  db: TestDb;
  bus: InProcessCommandBus;
  commands: GatewayCommand[];
  url: string;
  req(method: string, path: string, opts?: { token?: string; body?: unknown; headers?: Record<string, string>; raw?: string }): Promise<TestResponse>;
  signup(email?: string, tenant?: string): Promise<{ access: string; refresh: string; userId: string; tenantId: string; email: string }>;
}

export interface TestResponse { status: number; headers: Headers; body: any }

export const TEST_PASSWORD = 'correct horse battery';

export async function startTestControl(t: Teardown, env: Record<string, string> = {}): Promise<TestControl> {
  const db = await createTestDb(t);
  const config = loadControlConfig({
    CONTROL_PORT: '0',
    DATABASE_URL: db.url,
    DATA_DIR: `/tmp/sb-control-test-${randomBytes(4).toString('hex')}`,
    JWT_SECRET: randomBytes(32).toString('hex'),
    SCRYPT_COST: '1024',
    LOG_LEVEL: 'silent',
    RATE_LIMIT_PREFIX: `sbtest:${randomBytes(6).toString('hex')}`,
    PUBLIC_GATEWAY_URL: 'ws://gw.test:8080',
    // tests' tool servers and webhook receivers listen on loopback (test/control-ext/egress.test.ts
    // turns this off to prove the default refuses them)
    EGRESS_ALLOW_PRIVATE: 'true',
    ...env,
  });
  const { generateSigningKey } = await import('../../shared/src/token.ts');
  const bus = new InProcessCommandBus();
  const commands: GatewayCommand[] = [];
  bus.subscribe((c) => commands.push(c));
  const control = await startControl({ config, commands: bus, logger: createLogger('control-test', 'silent'), signingKey: await generateSigningKey() });
  t.teardown(() => control.close());
  const url = control.url;

  async function req(method: string, path: string, opts: { token?: string; body?: unknown; headers?: Record<string, string>; raw?: string } = {}): Promise<TestResponse> {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    let body: string | undefined = opts.raw;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(url + path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try { parsed = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    return { status: res.status, headers: res.headers, body: parsed };
  }

  let n = 0;
  async function signup(email?: string, tenant?: string) {
    const e = email ?? `u${n++}-${randomBytes(4).toString('hex')}@example.test`;
    const r = await req('POST', '/v1/auth/signup', { body: { email: e, password: TEST_PASSWORD, tenant_name: tenant ?? `Tenant ${e}` } });
    if (r.status !== 201) throw new Error(`signup failed: ${r.status} ${JSON.stringify(r.body)}`);
    return { access: r.body.access_token, refresh: r.body.refresh_token, userId: r.body.user.id, tenantId: r.body.tenant.id, email: e };
  }

  return { control, config, db, bus, commands, url, req, signup };
}

export const TEXT_SHA = 'a'.repeat(64);
