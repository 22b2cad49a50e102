/**
 * Load bench: `npm run bench:load -- --sessions N --transport native|twilio
 *   --provider echo|openai|elevenlabs|ultravox [--find-capacity] [--json] [--duration S] [--clients K]
 *   [--targets gateway,baseline,floor] [--client c|node] [--pin]`
 *
 * What it measures: per-frame latency the server adds to a caller's audio. The gateway runs in its own
 * process (gateway/src/main.ts, the production entry) with the echo agent in `loopback` mode
 * (`agent.ref = echo:loopback`): every caller frame goes through the whole session pipeline —
 * transport decode, reframe, (format conversion when formats differ; none here), provider, outbound
 * reframe, bounded playout queue, pacing, transport encode — and straight back. The load clients
 * (separate processes) stream real corpus speech at real time, stamp a sequence number into each frame
 * and time send -> receive. Steady real-time input never trips the 200 ms pacing lead, so nothing
 * intentional is added: what is measured is relay latency, loopback TCP included. The same load then
 * runs against a minimal relay on `ws` (bench/baselines/ws-relay.ts, "baseline") in the same run, and
 * with `--targets ...,floor` against the same relay on uWebSockets.js with no application logic
 * (bench/baselines/uws-echo.ts): the least CPU any uWS server in Node can relay a frame for, so its
 * ratio to the `ws` relay is the most the gateway's could be on this load.
 *
 * The load generator must cost much less CPU per frame than the servers, or it sets the capacity
 * instead of them. The default (`--client c`) is bench/lib/loadgen.c, a single-threaded epoll
 * WebSocket client compiled on first use (gcc); `--client node` is the `ws`-based bench/lib/load-
 * client.ts (also the one used where frames are identified by content, below). `--pin` gives the
 * server CPU 0 and the load clients the other CPUs, so neither steals the other's core and a server's
 * capacity is what one core of its own carries.
 *
 * With `--provider openai|elevenlabs|ultravox` the gateway talks to that provider's stand-in
 * (test/stand-ins/serve.ts --loopback, in its own process, OpenAI over TLS), which sends every audio
 * message straight back as the provider's audio event. The path measured per frame is then
 * client -> gateway -> stand-in -> gateway -> client, with the provider's real wire protocol (JSON +
 * base64 for OpenAI and ElevenLabs, binary for Ultravox) and the gateway's format conversion where the
 * provider's format differs from the caller's: twilio+openai is μ-law straight through, native+
 * elevenlabs resamples 24 kHz -> 16 kHz and back. How returned frames are recognised when resampling
 * changes them: bench/lib/load-ident.ts. The ElevenLabs adapter batches caller audio into 100 ms
 * messages by default (ELEVENLABS_CHUNK_MS), which would add up to 80 ms of intended wait to a frame;
 * the bench sets it to 20 ms so it measures relay cost, and says so in its output. The stand-ins share
 * the machine's cores with the gateway, so their CPU is reported too: it bounds the capacity found. The
 * ws baseline has no provider hop, so provider runs measure the gateway only (the ratio is the echo
 * runs'). Unlike echo's loopback, a remote provider's audio is paced to the caller (200 ms lead,
 * GATEWAY_PLAYOUT_LEAD_MS): a stall longer than the lead (stand-in or scheduler) leaves that session's
 * frames late by the excess for the rest of the call, as it would for a real caller, so it shows here.
 *
 * Live speaker features are off by default here (`--features on` adds them): the ws baseline does no
 * analysis, and their own cost is measured by bench:features.
 *
 * --find-capacity searches the most sessions with p99 <= 5 ms and no lost frame (a failed count is
 * measured again once, --retries), for each server, the servers taking turns trial by trial,
 * then measures the gateway at half its capacity. The CPU each server spends per frame (user space and
 * kernel, from /proc) is reported per trial and compared at the largest load all of them passed. Results: Markdown table (stdout) or JSON (--json).
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import { generateSigningKey, jwksOf, mintSessionToken, SessionClaims, type SessionTokenInput, type SigningKey } from '../shared/src/token.ts';
import { startServer, startClient, startStandIns, cpuSeconds, cpuTimes, machineTicks, rssMb, setBenchNice, type ServerProc } from './lib/load-procs.ts';
import type { LoadClientConfig, LoadClientResult } from './lib/load-client.ts';
import { ensureLoadgen, startCClient } from './lib/load-client-c.ts';
import { describePath, identModeOf, type PathFormats } from './lib/load-ident.ts';
import { providersConfig } from '../gateway/src/providers/config.ts';
import { OpenAIProvider } from '../gateway/src/providers/openai/index.ts';
import { ElevenLabsProvider } from '../gateway/src/providers/elevenlabs/index.ts';
import { UltravoxProvider } from '../gateway/src/providers/ultravox/index.ts';
import type { AudioFormat } from '../gateway/src/providers/types.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const corpus = path.resolve(root, '../shared/corpus');

type BenchProvider = 'echo' | 'openai' | 'elevenlabs' | 'ultravox';
const PROVIDERS: readonly BenchProvider[] = ['echo', 'openai', 'elevenlabs', 'ultravox'];

interface Args {
  sessions: number;
  transport: 'native' | 'twilio';
  provider: BenchProvider;
  findCapacity: boolean;
  json: boolean;
  durationS: number;
  warmupS: number;
  clients: number;
  /** the servers to measure, in order; null: the gateway and the ws baseline (the gateway alone with a provider) */
  targets: Target[] | null;
  /** the load generator: the C epoll client (bench/lib/loadgen.c) or the Node `ws` one */
  client: 'c' | 'node';
  /** pin the server to CPU 0 and the load clients to the other CPUs */
  pin: boolean;
  p99LimitMs: number;
  features: boolean;
  nice: number;
  retries: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { sessions: 50, transport: 'native', provider: 'echo', findCapacity: false, json: false, durationS: 8, warmupS: 2, clients: 1, targets: null, client: 'c', pin: false, p99LimitMs: 5, features: false, nice: 0, retries: 1 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === '--sessions') (a.sessions = Number(v)), i++;
    else if (k === '--transport') {
      if (v !== 'native' && v !== 'twilio') throw new Error('--transport is native or twilio');
      a.transport = v;
      i++;
    } else if (k === '--provider') {
      if (!PROVIDERS.includes(v as BenchProvider)) throw new Error(`--provider is one of ${PROVIDERS.join(', ')}`);
      a.provider = v as BenchProvider;
      i++;
    } else if (k === '--find-capacity') a.findCapacity = true;
    else if (k === '--json') a.json = true;
    else if (k === '--duration') (a.durationS = Number(v)), i++;
    else if (k === '--warmup') (a.warmupS = Number(v)), i++;
    else if (k === '--clients') (a.clients = Math.max(1, Number(v))), i++;
    else if (k === '--features') {
      if (v !== 'on' && v !== 'off') throw new Error('--features is on or off');
      a.features = v === 'on';
      i++;
    } else if (k === '--nice') (a.nice = Number(v)), i++;
    else if (k === '--retries') (a.retries = Math.max(0, Number(v))), i++;
    else if (k === '--p99-limit') (a.p99LimitMs = Number(v)), i++;
    else if (k === '--only' || k === '--targets') {
      const list = String(v).split(',') as Target[];
      if (list.length === 0 || list.some((t) => !TARGETS.includes(t))) throw new Error(`${k} is a comma-separated list of ${TARGETS.join(', ')}`);
      a.targets = list;
      i++;
    } else if (k === '--client') {
      if (v !== 'c' && v !== 'node') throw new Error('--client is c or node');
      a.client = v;
      i++;
    } else if (k === '--pin') a.pin = true;
    else throw new Error(`unknown option ${k}`);
  }
  if (a.provider !== 'echo' && a.targets?.some((t) => t !== 'gateway')) throw new Error('the baselines have no provider hop; run them with --provider echo');
  if (a.pin && os.cpus().length < 2) throw new Error('--pin needs at least 2 CPUs');
  return a;
}

/**
 * The servers: the gateway; `baseline`, the minimal relay on the `ws` package the target ratio is
 * against; `floor`, the same relay on uWebSockets.js with no application logic, the least CPU any
 * uWS server in Node can relay a frame for (its ratio to the baseline bounds the gateway's).
 */
type Target = 'gateway' | 'baseline' | 'floor';
const TARGETS: readonly Target[] = ['gateway', 'baseline', 'floor'];
const TARGET_LABEL: Record<Target, string> = { gateway: 'gateway', baseline: 'ws baseline', floor: 'uWS floor' };

export interface TrialResult {
  target: Target;
  transport: string;
  sessions: number;
  connected: number;
  sent: number;
  lost: number;
  disconnected: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  /** frames that came back but could not be recognised (content identification), part of `lost` */
  unidentified: number;
  cpuPct: number;
  /** server CPU per frame relayed (one in, one out), user space and kernel, microseconds */
  userUsPerFrame: number;
  sysUsPerFrame: number;
  /** share of the machine's CPU time the hypervisor took away during the measurement (VM steal) */
  stealPct: number;
  /** the provider stand-ins' process, provider runs only */
  standInCpuPct: number | null;
  rssMb: number;
  rssIdleMb: number;
  ok: boolean;
}

function pct(sorted: Int32Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! / 1000;
}

const log = (s: string) => process.stderr.write(`${s}\n`);
const freshRss = new Map<number, number>();

/** What the trials of one run share. */
interface RunCtx {
  args: Args;
  key: SigningKey;
  /** formats along the measured path (what the gateway converts) */
  path: PathFormats;
  /** the provider stand-ins' process; null with echo */
  standIn: ServerProc | null;
  /** the compiled C load generator, or null for the Node client */
  loadgen: string | null;
  /** CPUs of the server under test and of the load clients (--pin), or undefined: anywhere */
  serverCpus: string | undefined;
  clientCpus: string | undefined;
}

/** caller audio per ElevenLabs message in provider runs: one frame, so no frame waits for a batch */
const ELEVENLABS_BENCH_CHUNK_MS = 20;

/** the agent each provider runs: echo's loopback mode; the stand-ins loop back in every session */
const AGENT_REF: Record<BenchProvider, string> = { echo: 'echo:loopback', openai: 'openai', elevenlabs: 'elevenlabs', ultravox: 'ultravox' };

function tokenInput(args: Args): SessionTokenInput {
  return {
    sub: 'caller', sid: randomUUID(), tid: 'bench', participants: ['caller'], provider: args.provider,
    transport: args.transport === 'twilio' ? 'twilio' : 'web', agent: { ref: AGENT_REF[args.provider] },
    purposes: ['voice_processing'], max_duration_s: 3600, ttl_s: 600,
  };
}

/**
 * The formats the gateway will use on this path, asked of the adapter itself (constructed with the
 * same claims and provider config as the gateway's sessions, not connected), so the bench identifies
 * frames and describes the path from what the gateway really does.
 */
async function pathFormats(args: Args, key: SigningKey, env: Record<string, string>): Promise<PathFormats> {
  const client: AudioFormat = args.transport === 'twilio' ? { codec: 'mulaw', sampleRate: 8000 } : { codec: 'pcm16', sampleRate: 24000 };
  if (args.provider === 'echo') return { client, providerIn: client, providerOut: client };
  const claims = SessionClaims.parse(decodeJwt(await mintSessionToken(tokenInput(args), key)));
  const config = providersConfig(env);
  const adapter = args.provider === 'openai' ? new OpenAIProvider(claims, config)
    : args.provider === 'elevenlabs' ? new ElevenLabsProvider(claims, config)
      : new UltravoxProvider(claims, config);
  return { client, providerIn: adapter.inputFormat, providerOut: adapter.outputFormat };
}

async function trial(server: ServerProc, target: TrialResult['target'], n: number, ctx: RunCtx): Promise<TrialResult> {
  const { args, key } = ctx;
  const pid = server.child.pid!;
  const standInPid = target === 'gateway' ? ctx.standIn?.child.pid : undefined;
  // RSS never shrinks back between trials, so "idle" is the fresh process's, taken once
  const rssIdle = freshRss.get(pid) ?? rssMb(pid);
  const tokens: string[] = [];
  for (let i = 0; i < n; i++) tokens.push(await mintSessionToken(tokenInput(args), key));
  const per = Math.ceil(n / args.clients);
  const runs = [];
  for (let c = 0; c < args.clients; c++) {
    const slice = tokens.slice(c * per, (c + 1) * per);
    if (slice.length === 0) continue;
    const cfg: LoadClientConfig = {
      url: server.url, transport: args.transport, tokens: slice, corpus,
      warmupS: args.warmupS, durationS: args.durationS, tailS: 1, phaseOffsetMs: (c * 20) / args.clients, path: ctx.path,
    };
    runs.push(ctx.loadgen !== null
      ? startCClient(ctx.loadgen, cfg, root, ctx.clientCpus)
      : startClient(path.join(root, 'bench/lib/load-client.ts'), cfg, root, ctx.clientCpus));
  }
  let cpu0 = { user: 0, sys: 0 };
  let ticks0 = { total: 0, steal: 0 };
  let ticks1 = { total: 0, steal: 0 };
  let t0 = 0;
  let cpu1 = { user: 0, sys: 0 };
  let t1 = 0;
  let sCpu0 = 0;
  let sCpu1 = 0;
  let rssPeak = 0;
  const sampler = setInterval(() => {
    try {
      rssPeak = Math.max(rssPeak, rssMb(pid));
    } catch {
      // process gone; the trial fails below
    }
  }, 500);
  runs[0]!.onPhase('measure-start', () => {
    cpu0 = cpuTimes(pid);
    ticks0 = machineTicks();
    if (standInPid !== undefined) sCpu0 = cpuSeconds(standInPid);
    t0 = performance.now();
    log(`  [${target} ${args.transport} n=${n}] measuring ${args.durationS} s ...`);
  });
  runs[0]!.onPhase('measure-end', () => {
    cpu1 = cpuTimes(pid);
    ticks1 = machineTicks();
    if (standInPid !== undefined) sCpu1 = cpuSeconds(standInPid);
    t1 = performance.now();
  });
  const results: LoadClientResult[] = await Promise.all(runs.map((r) => r.result));
  clearInterval(sampler);
  let total = 0;
  for (const r of results) total += r.latenciesUs.length;
  const lat = new Int32Array(total);
  let o = 0;
  for (const r of results) for (const v of r.latenciesUs) lat[o++] = v;
  lat.sort();
  const sum = (f: (r: LoadClientResult) => number) => results.reduce((s, r) => s + f(r), 0);
  const res: TrialResult = {
    target,
    transport: args.transport,
    sessions: n,
    connected: sum((r) => r.connected),
    sent: sum((r) => r.sent),
    lost: sum((r) => r.lost),
    disconnected: sum((r) => r.disconnected),
    p50Ms: pct(lat, 50),
    p95Ms: pct(lat, 95),
    p99Ms: pct(lat, 99),
    maxMs: lat.length ? lat[lat.length - 1]! / 1000 : NaN,
    unidentified: sum((r) => r.unidentified),
    cpuPct: t1 > t0 ? (100 * (cpu1.user + cpu1.sys - cpu0.user - cpu0.sys)) / ((t1 - t0) / 1000) : NaN,
    userUsPerFrame: NaN,
    sysUsPerFrame: NaN,
    stealPct: ticks1.total > ticks0.total ? (100 * (ticks1.steal - ticks0.steal)) / (ticks1.total - ticks0.total) : NaN,
    standInCpuPct: standInPid === undefined ? null : t1 > t0 ? (100 * (sCpu1 - sCpu0)) / ((t1 - t0) / 1000) : NaN,
    rssMb: rssPeak,
    rssIdleMb: rssIdle,
    ok: false,
  };
  if (res.sent > 0) {
    res.userUsPerFrame = ((cpu1.user - cpu0.user) * 1e6) / res.sent;
    res.sysUsPerFrame = ((cpu1.sys - cpu0.sys) * 1e6) / res.sent;
  }
  res.ok = res.connected === n && res.lost === 0 && res.disconnected === 0 && res.p99Ms <= args.p99LimitMs;
  const standIn = res.standInCpuPct === null ? '' : `, stand-ins cpu ${res.standInCpuPct.toFixed(0)}%`;
  const unid = res.unidentified > 0 ? ` (${res.unidentified} unidentified)` : '';
  log(`  [${target} ${args.transport} n=${n}] p50 ${res.p50Ms.toFixed(2)} ms, p99 ${res.p99Ms.toFixed(2)} ms, lost ${res.lost}${unid}, cpu ${res.cpuPct.toFixed(0)}%${standIn}, steal ${res.stealPct.toFixed(0)}%, rss ${res.rssMb.toFixed(0)} MB -> ${res.ok ? 'pass' : 'FAIL'}`);
  // let the server settle (sessions closing) before the next trial
  await new Promise((r) => setTimeout(r, 1000));
  return res;
}

/**
 * One session count, judged: on a shared machine a single scheduler stall decides a p99, so a failed
 * count is measured once more (`--retries`, default 1) and passes if a repeat passes. Every run is
 * reported.
 */
async function judged(server: ServerProc, target: TrialResult['target'], n: number, ctx: RunCtx, trials: TrialResult[]): Promise<boolean> {
  for (let attempt = 0; attempt <= ctx.args.retries; attempt++) {
    const r = await trial(server, target, n, ctx);
    trials.push(r);
    if (r.ok) return true;
    if (r.lost > 0 || r.connected < n) return false; // loss is not noise
  }
  return false;
}

/**
 * One server's capacity search as the session counts to try: doubling, then bisection to within ~10%;
 * each yield gets back whether that count passed, and the return value is the largest count that did.
 */
function* capacitySearch(start: number): Generator<number, number, boolean> {
  let lo = 0;
  let hi = 0;
  let n = start;
  for (;;) {
    if (yield n) {
      lo = n;
      if (n >= 2000) return lo;
      n *= 2;
    } else {
      hi = n;
      break;
    }
  }
  while (hi - lo > Math.max(5, lo * 0.1)) {
    const mid = Math.round((lo + hi) / 2);
    if (yield mid) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * The servers' capacity searches, interleaved: one trial of each server in turn, round after round.
 * The host's speed drifts over minutes (other tenants of the machine; ±10-15 % here, with no steal
 * showing), and searching one server after the other let that drift decide the ratio; taking turns
 * puts every server through the same stretches of time.
 */
async function findCapacities(servers: Array<{ target: Target; server: ServerProc }>, ctx: RunCtx, trials: TrialResult[]): Promise<Record<string, number>> {
  const start = Math.max(10, ctx.args.sessions);
  const searches = servers.map((s) => {
    const gen = capacitySearch(start);
    return { ...s, gen, step: gen.next() };
  });
  while (searches.some((s) => !s.step.done)) {
    for (const s of searches) {
      if (s.step.done) continue;
      const ok = await judged(s.server, s.target, s.step.value, ctx, trials);
      s.step = s.gen.next(ok);
      if (s.step.done) log(`${s.target} capacity: ${s.step.value} sessions`);
    }
  }
  const capacity: Record<string, number> = {};
  for (const s of searches) if (s.step.done) capacity[s.target] = s.step.value;
  return capacity;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const key = await generateSigningKey();
  setBenchNice(args.nice);
  const machine = `${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}${args.nice ? `, bench processes at nice ${args.nice}` : ''}`;
  log(`machine: ${machine}`);
  const remote = args.provider !== 'echo';
  // ElevenLabs' agent format is pcm_16000, so both transports convert on that path (load-ident.ts)
  const stand = remote ? await startStandIns('pcm16', root) : null;
  const providerEnv: Record<string, string> = stand === null ? {} : { ...stand.env, ELEVENLABS_CHUNK_MS: String(ELEVENLABS_BENCH_CHUNK_MS) };
  if (stand !== null) log(`stand-ins: pid ${stand.proc.child.pid}`);
  const formats = await pathFormats(args, key, providerEnv);
  // the C client identifies frames by their stamp only; converted paths need the Node client's content matching
  const useC = args.client === 'c' && identModeOf(formats) === 'stamp';
  if (args.client === 'c' && !useC) log('frames are identified by content on this path, which only the Node load client does: using it');
  const cpus = os.cpus().length;
  const ctx: RunCtx = {
    args, key, path: formats, standIn: stand?.proc ?? null, loadgen: useC ? ensureLoadgen(root) : null,
    serverCpus: args.pin ? '0' : undefined, clientCpus: args.pin ? (cpus > 2 ? `1-${cpus - 1}` : '1') : undefined,
  };
  log(`load clients: ${useC ? 'C (bench/lib/loadgen.c)' : 'Node (bench/lib/load-client.ts)'}${args.pin ? `; server pinned to CPU ${ctx.serverCpus}, clients to CPU ${ctx.clientCpus}` : ''}`);
  const pathLine = describePath(ctx.path);
  const ident = identModeOf(ctx.path) === 'stamp' ? 'sequence number stamped in each frame (bytes pass through)' : 'predicted content (the gateway converts; bench/lib/load-ident.ts)';
  log(`path: ${pathLine}; frames identified by ${ident}`);
  const trials: TrialResult[] = [];
  const capacity: Record<string, number> = {};
  let half: TrialResult | null = null;
  // the baselines relay to no provider: with one, only the gateway is measured
  const targets: Target[] = remote ? ['gateway'] : args.targets ?? ['gateway', 'baseline'];
  // every server is started up front (idle ones cost nothing), so the searches can take turns
  const servers: Array<{ target: Target; server: ServerProc }> = [];
  try {
    for (const target of targets) {
      const server = target === 'gateway'
        ? await startServer('gateway', 'gateway/src/main.ts', {
          GATEWAY_PORT: '0', GATEWAY_HOST: '127.0.0.1', GATEWAY_JWKS: JSON.stringify(jwksOf(key)), LOG_LEVEL: 'warn',
          GATEWAY_MAX_SESSIONS_PER_IP: '100000', GATEWAY_MAX_SESSIONS_PER_TENANT: '100000', GATEWAY_POD_ID: 'bench',
          GATEWAY_FEATURES: args.features ? 'true' : 'false', ...providerEnv,
        }, root, ctx.serverCpus)
        : await startServer(target, target === 'baseline' ? 'bench/baselines/ws-relay.ts' : 'bench/baselines/uws-echo.ts', {}, root, ctx.serverCpus);
      servers.push({ target, server });
      freshRss.set(server.child.pid!, rssMb(server.child.pid!));
      log(`${target}: ${server.url} (pid ${server.child.pid})`);
    }
    if (args.findCapacity) {
      Object.assign(capacity, await findCapacities(servers, ctx, trials));
      const gw = servers.find((s) => s.target === 'gateway');
      if (gw && capacity.gateway! > 0) {
        half = await trial(gw.server, 'gateway', Math.max(1, Math.floor(capacity.gateway! / 2)), ctx);
        trials.push(half);
      }
    } else {
      for (const { target, server } of servers) trials.push(await trial(server, target, args.sessions, ctx));
    }
  } finally {
    await Promise.all(servers.map((s) => s.server.stop()));
    await stand?.proc.stop();
  }
  const providerLabel = remote ? `${args.provider} (stand-in in its own process, loopback)` : 'echo (loopback)';
  const notes: string[] = [];
  if (remote) {
    notes.push('the provider stand-ins run on the same cores as the gateway and the load clients: their CPU (column "stand-ins CPU %") is part of what bounds the capacity found');
    notes.push('the ws baseline has no provider hop, so it is not run with a provider: gateway/baseline ratios come from the echo runs');
  }
  if (args.provider === 'elevenlabs') notes.push(`ELEVENLABS_CHUNK_MS=${ELEVENLABS_BENCH_CHUNK_MS} (default 100): the adapter's batching would otherwise hold a frame up to 80 ms by design; the bench measures relay cost`);
  const out = {
    machine,
    transport: args.transport,
    provider: providerLabel,
    path: pathLine,
    identification: identModeOf(ctx.path),
    features: args.features,
    p99_limit_ms: args.p99LimitMs,
    capacity: args.findCapacity ? capacity : undefined,
    ratio: args.findCapacity && capacity.baseline ? (capacity.gateway ?? 0) / capacity.baseline : undefined,
    /** the uWS floor's capacity over the ws baseline's: the most any uWS server could show on this load */
    floor_ratio: args.findCapacity && capacity.baseline && capacity.floor ? capacity.floor / capacity.baseline : undefined,
    cpu_per_frame: cpuPerFrame(trials),
    half_capacity: half,
    notes,
    trials,
  };
  if (args.json) {
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return;
  }
  const standCol = remote ? ' stand-ins CPU % |' : '';
  const lines = [
    `## bench:load — ${args.transport} + ${providerLabel}, features ${args.features ? 'on' : 'off'}`,
    '',
    `machine: ${machine}`,
    '',
    `path measured per frame: ${pathLine}; frames identified by ${ident}`,
    ...notes.map((n) => `- ${n}`),
    '',
    `| server | sessions | p50 ms | p95 ms | p99 ms | max ms | lost | server CPU % | CPU µs/frame user+kernel |${standCol} RSS MB (idle) | VM steal % | pass |`,
    `|---|---:|---:|---:|---:|---:|---:|---:|---:|${remote ? '---:|' : ''}---:|---:|:-:|`,
    // by server, each in the order measured
    ...[...trials].sort((x, y) => targets.indexOf(x.target) - targets.indexOf(y.target)).map((r) => `| ${TARGET_LABEL[r.target]} | ${r.sessions} | ${r.p50Ms.toFixed(2)} | ${r.p95Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.maxMs.toFixed(1)} | ${r.lost}${r.unidentified > 0 ? ` (${r.unidentified} unid.)` : ''} | ${r.cpuPct.toFixed(0)} |` +
      ` ${r.userUsPerFrame.toFixed(1)}+${r.sysUsPerFrame.toFixed(1)} |` +
      `${remote ? ` ${r.standInCpuPct === null ? '-' : r.standInCpuPct.toFixed(0)} |` : ''} ${r.rssMb.toFixed(0)} (${r.rssIdleMb.toFixed(0)}) | ${r.stealPct.toFixed(0)} | ${r.ok ? 'yes' : 'no'} |`),
  ];
  const maxSteal = Math.max(...trials.map((r) => r.stealPct));
  if (maxSteal > 5) lines.push('', `**VM steal reached ${maxSteal.toFixed(0)} % of the machine's CPU time: the host took it away, so latencies and capacities here measure the host's load, not the servers.**`);
  lines.push('', 'CPU µs/frame: the server\'s CPU per caller frame relayed (received, and sent back), in user space + in the kernel (system calls, loopback TCP), from /proc.');
  if (args.findCapacity) {
    lines.push('', `capacity at p99 <= ${args.p99LimitMs} ms, no loss: ` + targets.map((t) => `${TARGET_LABEL[t]} ${capacity[t] ?? '-'}`).join(', ') +
      (remote ? ` (with ${args.provider})` : '') +
      (out.ratio !== undefined ? `; gateway/ws ratio ${out.ratio.toFixed(2)}x` : '') +
      (out.floor_ratio !== undefined ? `; uWS floor/ws ratio ${out.floor_ratio.toFixed(2)}x (the most any uWS server shows on this load)` : ''));
    const gw = trials.filter((r) => r.target === 'gateway' && r.sessions === capacity.gateway).at(-1);
    if (gw) {
      lines.push(`gateway at capacity: ${(gw.cpuPct / gw.sessions).toFixed(2)} % CPU and ${((gw.rssMb - gw.rssIdleMb) / gw.sessions).toFixed(2)} MB RSS per session` +
        (gw.standInCpuPct !== null ? `; stand-ins ${(gw.standInCpuPct / gw.sessions).toFixed(2)} % CPU per session` : ''));
    }
    if (half) lines.push(`gateway at half capacity (${half.sessions}): p50 ${half.p50Ms.toFixed(2)} ms, p99 ${half.p99Ms.toFixed(2)} ms`);
  }
  if (out.cpu_per_frame !== null) {
    const c = out.cpu_per_frame;
    lines.push('', `CPU per frame at ${c.sessions} sessions (the most every server passed): ` +
      c.rows.map((r) => `${TARGET_LABEL[r.target]} ${r.userUs.toFixed(1)}+${r.sysUs.toFixed(1)} µs`).join(', ') +
      (c.baselineOverGateway !== null ? `; ws baseline/gateway ${c.baselineOverGateway.toFixed(2)}x` : ''));
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

/**
 * Server CPU per frame, user + kernel, at the largest session count every measured server passed
 * (their runs there averaged): the capacity ratio's cause, readable even when the load clients, not
 * the servers, set the capacities.
 */
function cpuPerFrame(trials: TrialResult[]): { sessions: number; rows: Array<{ target: Target; userUs: number; sysUs: number }>; baselineOverGateway: number | null } | null {
  const targets = [...new Set(trials.map((t) => t.target))];
  if (targets.length < 2) return null;
  const passedBy = (t: Target) => new Set(trials.filter((r) => r.target === t && r.ok).map((r) => r.sessions));
  const common = [...passedBy(targets[0]!)].filter((n) => targets.every((t) => passedBy(t).has(n)));
  if (common.length === 0) return null;
  const sessions = Math.max(...common);
  const rows = targets.map((target) => {
    const runs = trials.filter((r) => r.target === target && r.sessions === sessions && r.ok);
    const mean = (f: (r: TrialResult) => number) => runs.reduce((a, r) => a + f(r), 0) / runs.length;
    return { target, userUs: mean((r) => r.userUsPerFrame), sysUs: mean((r) => r.sysUsPerFrame) };
  });
  const total = (t: Target) => {
    const r = rows.find((x) => x.target === t);
    return r === undefined ? null : r.userUs + r.sysUs;
  };
  const gw = total('gateway');
  const ws = total('baseline');
  return { sessions, rows, baselineOverGateway: gw !== null && ws !== null ? ws / gw : null };
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:load failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
