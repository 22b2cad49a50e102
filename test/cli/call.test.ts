/**
 * `npm run call` round trip against the whole system in this process: the CLI (a child process)
 * signs up a throwaway tenant, grants consent, streams a corpus utterance to the echo agent and
 * writes the reply. The reply must be the utterance (normalised cross-correlation peak), and the JSON
 * report must name the session and its duration. Error paths exit 1 with a clear message.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readWav, writeWav } from '../../gateway/src/audio/wav.ts';
import { startSystem } from '../web/system.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CORPUS = path.resolve(ROOT, '../shared/corpus/conv00/a.wav');
const RATE = 24000;

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env.SWITCHBOARD_API_KEY;
    execFile(process.execPath, ['--import', 'tsx', path.join(ROOT, 'control/cli/call.ts'), ...args], { cwd: ROOT, env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** mean absolute value over 10 ms hops */
function envelope(x: Int16Array): Float64Array {
  const hop = RATE / 100;
  const e = new Float64Array(Math.floor(x.length / hop));
  for (let i = 0; i < e.length; i++) {
    let s = 0;
    for (let j = 0; j < hop; j++) s += Math.abs(x[i * hop + j]!);
    e[i] = s / hop;
  }
  return e;
}

/** normalised correlation of x and y shifted by `lag` samples (y[n + lag] against x[n]) over their overlap */
function ncc(x: ArrayLike<number>, y: ArrayLike<number>, lag: number): number {
  let sxy = 0, sxx = 0, syy = 0;
  for (let n = Math.max(0, -lag); n < x.length && n + lag < y.length; n++) {
    const a = x[n]!, b = y[n + lag]!;
    sxy += a * b; sxx += a * a; syy += b * b;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : 0;
}

/** best normalised cross-correlation: coarse lag from 10 ms envelopes, then sample-exact around it */
function peakCorrelation(x: Int16Array, y: Int16Array): { peak: number; lagMs: number } {
  const ex = envelope(x), ey = envelope(y);
  const mx = ex.reduce((a, b) => a + b, 0) / ex.length, my = ey.reduce((a, b) => a + b, 0) / ey.length;
  const cx = ex.map((v) => v - mx), cy = ey.map((v) => v - my);
  let bestHop = 0, best = -Infinity;
  for (let lag = -ey.length + 10; lag < ex.length - 10; lag++) {
    const c = ncc(cy, cx, lag);
    if (c > best) { best = c; bestHop = lag; }
  }
  // y[n] ~ x[n + bestHop*hop]: search the sample lag of x against y near it
  const hop = RATE / 100;
  let peak = -Infinity, lagSamples = 0;
  for (let d = -hop * 2; d <= hop * 2; d++) {
    const c = ncc(y, x, bestHop * hop + d);
    if (c > peak) { peak = c; lagSamples = bestHop * hop + d; }
  }
  return { peak, lagMs: (lagSamples * 1000) / RATE };
}

// one system for the file (a database, migrations, both servers)
const sys = await startSystem(t);

t.test('call CLI: echo round trip writes the reply and prints a JSON report', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sb-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // speaker a's first turn (0.3-5.0 s in the labels) as one utterance, 48 kHz so the CLI converts it
  const track = readWav(await readFile(CORPUS), RATE);
  const utterance = track.subarray(Math.round(0.2 * RATE), Math.round(5.15 * RATE));
  const inWav = path.join(dir, 'in.wav');
  const pcm48 = readWav(writeWav(utterance, RATE), 48000);
  await writeFile(inWav, writeWav(pcm48, 48000));
  const outWav = path.join(dir, 'reply.wav');

  const r = await runCli(['--wav', inWav, '--out', outWav, '--fast', '--json', '--api', sys.apiUrl]);
  t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr.trim().split('\n').slice(-3).join(' | ')})`);
  const out = JSON.parse(r.stdout) as { session_id: string; duration_s: number | null; status: string; transcript: Array<{ role: string; text: string }>; received_s: number; sent_s: number };
  t.match(out.session_id, /^[0-9a-f-]{36}$/, 'report names the session');
  t.type(out.duration_s, 'number', 'report has a duration');
  t.ok(out.duration_s! > 0, `duration ${out.duration_s} s (${(out as { duration_source?: string }).duration_source})`);
  t.equal(out.status, 'ended', 'session ended (the gateway told the control plane)');
  t.equal((out as { duration_source?: string }).duration_source, 'server', 'duration is the control plane\'s');
  const rep = (out as { report?: { session_id: string; duration_s: number; features: { participants: unknown[] } | null } }).report;
  t.equal(rep?.session_id, out.session_id, 'the JSON carries the session report');
  t.ok((rep?.features?.participants.length ?? 0) >= 2, 'with the features summary of caller and agent');
  t.ok(Math.abs(out.sent_s - utterance.length / RATE) < 0.05, `whole utterance sent (${out.sent_s} s)`);
  t.ok(out.transcript.some((x) => x.role === 'agent'), 'agent transcript printed');
  t.match(r.stderr, /session [0-9a-f-]{36} \(echo\)/, 'progress on stderr');

  const reply = readWav(await readFile(outWav), RATE);
  t.ok(reply.length > RATE * 2, `reply audio written (${(reply.length / RATE).toFixed(2)} s)`);
  const { peak, lagMs } = peakCorrelation(utterance, reply);
  t.ok(peak > 0.5, `reply correlates with the utterance (normalised peak ${peak.toFixed(3)} at ${lagMs.toFixed(1)} ms)`);

  // the same session is closed in the control plane, seen through the API as its owner would
  t.equal(sys.gateway.sessions, 0, 'no session left live in the gateway');
});

t.test('call CLI: clear errors and exit 1', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sb-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const wav = path.join(dir, 'a.wav');
  await writeFile(wav, writeWav(new Int16Array(RATE), RATE));
  const [missing, noArgs, down] = await Promise.all([
    runCli(['--wav', '/nonexistent/in.wav']),
    runCli([]),
    runCli(['--wav', wav, '--api', 'http://127.0.0.1:9']),
  ]);
  t.equal(missing.code, 1, 'missing file exits 1');
  t.match(missing.stderr, /call: cannot read \/nonexistent\/in\.wav/, 'and says which file');
  t.equal(noArgs.code, 1, 'no --wav exits 1');
  t.match(noArgs.stderr, /--wav is required/);
  t.equal(down.code, 1, 'unreachable API exits 1');
  t.match(down.stderr, /cannot reach the API at http:\/\/127\.0\.0\.1:9/, 'and names the URL');
});

t.test('call CLI: signs in with an API key and speaks for an external participant', async (t) => {
  const signup = await fetch(`${sys.apiUrl}/v1/auth/signup`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: `cli-key-${Date.now()}@example.test`, password: 'correct horse battery', tenant_name: 'CLI key' }),
  }).then((r) => r.json()) as { access_token: string };
  const created = await fetch(`${sys.apiUrl}/v1/api-keys`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${signup.access_token}` },
    body: JSON.stringify({ name: 'cli', scopes: ['consents:write', 'sessions:create', 'sessions:read', 'sessions:terminate', 'reports:read'] }),
  });
  t.equal(created.status, 201, 'API key created');
  const { secret } = await created.json() as { secret: string };
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sb-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // speaker a's turn at 8.29-10.03 s
  const track = readWav(await readFile(CORPUS), RATE);
  const utterance = track.subarray(Math.round(8.2 * RATE), Math.round(10.1 * RATE));
  const inWav = path.join(dir, 'in.wav');
  await writeFile(inWav, writeWav(utterance, RATE));
  const [r, bad] = await Promise.all([
    runCli(['--wav', inWav, '--fast', '--json', '--api', sys.apiUrl, '--api-key', secret, '--participant', 'customer-42']),
    runCli(['--wav', inWav, '--fast', '--api', sys.apiUrl, '--api-key', 'sk_not_a_real_key_0000000000']),
  ]);
  t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr.trim().split('\n').slice(-2).join(' | ')})`);
  const out = JSON.parse(r.stdout) as { session_id: string; received_s: number };
  t.ok(out.received_s > 1, `the agent answered (${out.received_s} s)`);
  const view = await fetch(`${sys.apiUrl}/v1/sessions/${out.session_id}`, { headers: { authorization: `Bearer ${secret}` } }).then((x) => x.json()) as { participants: string[] };
  t.same(view.participants, ['customer-42'], 'the session is for the named external participant');
  t.equal(bad.code, 1, 'a wrong API key exits 1');
  t.match(bad.stderr, /GET \/v1\/me: 401 UNAUTHENTICATED/, 'with the API error');
});
