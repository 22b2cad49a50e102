/**
 * Control-plane benchmark: `npm run bench:control` (table) or `npm run bench:control -- --json`.
 *
 * The server runs in a child process (this file with --serve) on a fresh database of the real
 * Postgres (127.0.0.1:5432); this process is the load generator: 50 concurrent keep-alive clients.
 * Measured in the same run, against the same child:
 *   - POST /v1/sessions with an API key (auth lookup + rate limit + consent check + insert + audit
 *     append + ES256 token mint), the server-to-server path apps use;
 *   - POST /v1/sessions with a user access token (JWT auth instead of the key lookup);
 *   - a Koa hello-world route (same Koa version, same process, no middleware) as the ceiling;
 *   - the floor of any session creation on this machine: a bare Koa route doing one durable insert and
 *     one token mint (no auth, consent, billing, audit) - how close the real route could ever get.
 * Target: session creation >= 0.25x hello-world req/s, p99 < 25 ms.
 */
import http from 'node:http';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';

const ADMIN_URL = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 5000);
const WARMUP_MS = 1000;
/** the multi-tenant scenario spreads the load so no tenant's audit chain serialises it */
const TENANTS = Number(process.env.BENCH_TENANTS ?? 25);
const JSON_OUT = process.argv.includes('--json');
/** BENCH_ONLY=hello,floor,key,jwt,tenants,healthz runs only those scenarios (e.g. to profile one) */
const ONLY = process.env.BENCH_ONLY?.split(',') ?? null;

if (process.argv.includes('--serve')) await serve();
else await main();

/** Child: the control plane plus a hello-world Koa app; prints both URLs as one JSON line. */
async function serve() {
  const Koa = (await import('koa')).default;
  const { loadControlConfig } = await import('../control/src/config.ts');
  const { startControl } = await import('../control/src/server.ts');
  const { InProcessCommandBus } = await import('../shared/src/bus/index.ts');
  const config = loadControlConfig({
    CONTROL_PORT: '0', DATABASE_URL: process.env.BENCH_DATABASE_URL!, DATA_DIR: `/tmp/sb-bench-${randomBytes(4).toString('hex')}`,
    JWT_SECRET: randomBytes(32).toString('hex'), LOG_LEVEL: 'silent', SCRYPT_COST: '1024',
    API_KEY_RATE_LIMIT_PER_MIN: '100000000', AUTH_RATE_LIMIT_PER_MIN: '100000', DATABASE_POOL_MAX: process.env.BENCH_POOL ?? '10',
  });
  const { generateSigningKey, mintSessionToken } = await import('../shared/src/token.ts');
  // an ephemeral key: nothing is written under DATA_DIR
  const signingKey = await generateSigningKey();
  const control = await startControl({ config, commands: new InProcessCommandBus(), signingKey });
  // The floor: what any session creation must do at the least, without the product around it - read
  // a JSON body, one durable insert of a session-sized row (autocommit: no BEGIN/COMMIT round trips),
  // one ES256 token mint. No auth, consent, billing, audit, RLS or validation.
  const floorSql = postgres(process.env.BENCH_DATABASE_URL!, { max: Number(process.env.BENCH_POOL ?? 10), onnotice: () => {} });
  await floorSql`create table if not exists bench_floor (id uuid primary key, tenant_id uuid not null, body jsonb not null, created_at timestamptz not null default now())`;
  const hello = new Koa();
  hello.use(async (ctx) => {
    if (ctx.method !== 'POST') {
      ctx.body = { hello: 'world' };
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of ctx.req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>;
    const id = randomUUID();
    const tenant = randomUUID();
    await floorSql`insert into bench_floor (id, tenant_id, body) values (${id}, ${tenant}, ${floorSql.json(body as never)})`;
    const token = await mintSessionToken({
      sub: 'caller', sid: id, tid: tenant, participants: ['caller'], provider: 'openai', transport: 'web', agent: { ref: 'bench' },
      purposes: ['voice_processing'], max_duration_s: 3600, ttl_s: 600,
    }, signingKey);
    ctx.status = 201;
    ctx.body = { session_id: id, token };
  });
  const server = http.createServer(hello.callback());
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as import('node:net').AddressInfo).port;
  process.stdout.write(JSON.stringify({ control: control.url, hello: `http://127.0.0.1:${port}` }) + '\n');
  process.on('SIGTERM', async () => {
    server.close();
    server.closeAllConnections();
    await floorSql.end();
    await control.close();
    process.exit(0);
  });
}

interface Result {
  name: string; requests: number; errors: number; rps: number; p50: number; p90: number; p99: number; max: number;
  /** CPU time per completed request (ms) of the server process and of its Postgres backends (Linux /proc) */
  serverCpuMs: number; pgCpuMs: number;
  /** share of the machine's CPU time the hypervisor took away meanwhile (VM steal) */
  stealPct: number;
}

/** machine-wide CPU ticks and the stolen ones (/proc/stat: user nice system idle iowait irq softirq steal) */
function machineTicks(): { total: number; steal: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  return { total: cpu.reduce((a, b) => a + b, 0), steal: cpu[7] ?? 0 };
}

/**
 * CPU seconds used so far by `pids` (utime + stime from /proc/<pid>/stat). Throughput on this shared
 * machine swings with other work; CPU per request does not, so the table reports both.
 */
function cpuSeconds(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks (USER_HZ = 100 on Linux)
    } catch { /* process gone or not Linux */ }
  }
  return total;
}

async function main() {
  const dbName = `sbbench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${dbName}`);
  // BENCH_SYNC_COMMIT=off shows what the commit fsync of this machine's disk costs (not a production setting)
  if (process.env.BENCH_SYNC_COMMIT === 'off') await admin.unsafe(`ALTER DATABASE ${dbName} SET synchronous_commit = off`);
  const dbUrl = ADMIN_URL.replace(/\/[^/]*$/, `/${dbName}`);
  // BENCH_PROFILE=<dir>: write a V8 CPU profile of the server process there
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', fileURLToPath(import.meta.url), '--serve'], {
    env: { ...process.env, BENCH_DATABASE_URL: dbUrl }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const urls = await new Promise<{ control: string; hello: string }>((resolve, reject) => {
      let buf = '';
      child.stdout!.on('data', (b: Buffer) => {
        buf += b.toString();
        const line = buf.split('\n').find((l) => l.startsWith('{'));
        if (line) resolve(JSON.parse(line));
      });
      child.once('exit', (c) => reject(new Error(`server exited ${c}`)));
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

    // setup: tenants, each with an API key and consents for the participants the load uses
    const PARTICIPANTS = 10;
    const setupTenant = async (i: number) => {
      const su = await request(agent, 'POST', `${urls.control}/v1/auth/signup`, { email: `bench-${i}-${dbName}@example.test`, password: 'correct horse battery', tenant_name: `Bench ${i}` });
      const user = JSON.parse(su.body).access_token as string;
      const key = JSON.parse((await request(agent, 'POST', `${urls.control}/v1/api-keys`, { name: 'bench' }, user)).body).secret as string;
      for (let p = 0; p < PARTICIPANTS; p++) {
        for (const purpose of ['voice_processing', 'provider:openai']) {
          await request(agent, 'PUT', `${urls.control}/v1/consents/${purpose}`, { subject: { external_id: `caller-${p}` }, version: 'v1', text_sha256: 'f'.repeat(64) }, key);
        }
      }
      return { user, key };
    };
    const tenants: Array<{ user: string; key: string }> = [];
    for (let i = 0; i < TENANTS; i++) tenants.push(await setupTenant(i));
    const { user, key } = tenants[0]!;
    let n = 0;
    const sessionBody = () => ({ provider: 'openai', agent: { ref: 'bench', instructions: 'Be brief.', voice: 'alloy' }, participant: { external_id: `caller-${n++ % PARTICIPANTS}` }, transport: 'web' });

    const pgPids = async () => (await admin<{ pid: number }[]>`select pid from pg_stat_activity where datname = ${dbName}`).map((r) => r.pid);
    const meter = async () => ({ server: cpuSeconds([child.pid!]), pg: cpuSeconds(await pgPids()) });
    const results: Result[] = [];
    let k = 0;
    // hello-world first: every ratio is against it
    const scenarios: Array<[string, () => Promise<Result>]> = [
      ['hello', () => load('koa hello-world GET', meter, () => request(agent, 'GET', `${urls.hello}/`))],
      ['floor', () => load('floor: koa + 1 insert + token mint', meter, () => request(agent, 'POST', `${urls.hello}/floor`, sessionBody()), 201)],
      ['key', () => load('POST /v1/sessions (API key)', meter, () => request(agent, 'POST', `${urls.control}/v1/sessions`, sessionBody(), key), 201)],
      ['jwt', () => load('POST /v1/sessions (user JWT)', meter, () => request(agent, 'POST', `${urls.control}/v1/sessions`, sessionBody(), user), 201)],
      ['tenants', () => load(`POST /v1/sessions (API key, ${TENANTS} tenants)`, meter, () => request(agent, 'POST', `${urls.control}/v1/sessions`, sessionBody(), tenants[k++ % TENANTS]!.key), 201)],
      ['healthz', () => load('GET /healthz (full middleware)', meter, () => request(agent, 'GET', `${urls.control}/healthz`))],
    ];
    for (const [id, run] of scenarios) if (!ONLY || ONLY.includes(id)) results.push(await run());
    agent.destroy();
    report(results);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await admin.unsafe(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
  }
}

function request(agent: http.Agent, method: string, url: string, body?: unknown, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = {};
    if (payload) { headers['content-type'] = 'application/json'; headers['content-length'] = String(Buffer.byteLength(payload)); }
    if (token) headers.authorization = `Bearer ${token}`;
    const req = http.request(url, { method, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** CONCURRENCY closed-loop clients for WARMUP_MS (discarded) then DURATION_MS (measured). */
async function load(name: string, meter: () => Promise<{ server: number; pg: number }>, fire: () => Promise<{ status: number; body: string }>, okStatus = 200): Promise<Result> {
  const lat: number[] = [];
  let errors = 0;
  let measuring = false;
  let stop = false;
  let firstError = '';
  const worker = async () => {
    while (!stop) {
      const t0 = performance.now();
      try {
        const r = await fire();
        if (r.status !== okStatus) { errors++; firstError ||= `${r.status} ${r.body.slice(0, 200)}`; }
      } catch (e) {
        errors++;
        firstError ||= String(e);
      }
      if (measuring) lat.push(performance.now() - t0);
    }
  };
  const workers = Array.from({ length: CONCURRENCY }, worker);
  await sleep(WARMUP_MS);
  const cpu0 = await meter();
  const ticks0 = machineTicks();
  measuring = true;
  const t0 = performance.now();
  await sleep(DURATION_MS);
  measuring = false;
  const elapsed = performance.now() - t0;
  const cpu1 = await meter();
  const ticks1 = machineTicks();
  stop = true;
  await Promise.all(workers);
  if (firstError && !JSON_OUT) process.stderr.write(`${name}: first error: ${firstError}\n`);
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]! : NaN;
  return {
    name, requests: lat.length, errors, rps: lat.length / (elapsed / 1000), p50: q(0.5), p90: q(0.9), p99: q(0.99), max: lat[lat.length - 1] ?? NaN,
    serverCpuMs: ((cpu1.server - cpu0.server) * 1000) / Math.max(1, lat.length), pgCpuMs: ((cpu1.pg - cpu0.pg) * 1000) / Math.max(1, lat.length),
    stealPct: ticks1.total > ticks0.total ? (100 * (ticks1.steal - ticks0.steal)) / (ticks1.total - ticks0.total) : NaN,
  };
}

function report(results: Result[]) {
  const hello = results.find((r) => r.name === 'koa hello-world GET') ?? { rps: NaN };
  const machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version, loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100), concurrency: CONCURRENCY, duration_ms: DURATION_MS };
  const rows = results.map((r) => ({ ...r, ratio: r.rps / hello.rps }));
  if (JSON_OUT) {
    process.stdout.write(JSON.stringify({ machine, results: rows, target: { ratio: 0.25, p99_ms: 25 } }, null, 2) + '\n');
    return;
  }
  const f = (x: number, d = 1) => x.toFixed(d);
  process.stdout.write(`control-plane bench: ${machine.cpus} x ${machine.cpu}, node ${machine.node}, loadavg ${machine.loadavg.join(' ')}, ${CONCURRENCY} concurrent, ${DURATION_MS / 1000} s each\n\n`);
  process.stdout.write('| scenario | requests | errors | req/s | p50 ms | p90 ms | p99 ms | max ms | x hello | server CPU ms/req | postgres CPU ms/req | CPU-bound req/s on 2 cores | VM steal % |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n');
  for (const r of rows) {
    const capacity = (machine.cpus * 1000) / Math.max(0.001, r.serverCpuMs + r.pgCpuMs);
    process.stdout.write(`| ${r.name} | ${r.requests} | ${r.errors} | ${f(r.rps, 0)} | ${f(r.p50)} | ${f(r.p90)} | ${f(r.p99)} | ${f(r.max)} | ${f(r.ratio, 3)} | ${f(r.serverCpuMs, 2)} | ${f(r.pgCpuMs, 2)} | ${f(capacity, 0)} | ${f(r.stealPct, 0)} |\n`);
  }
  const s = rows.find((r) => r.name === 'POST /v1/sessions (API key)');
  if (!s) return;
  process.stdout.write(`\nsession creation (API key): ${f(s.ratio, 3)} x hello-world (target >= 0.25): ${s.ratio >= 0.25 ? 'met' : 'NOT met'}; p99 ${f(s.p99)} ms (target < 25): ${s.p99 < 25 ? 'met' : 'NOT met'}\n`);
}

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}
