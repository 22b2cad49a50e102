/**
 * The OpenAI-compatible `/v1/realtime` endpoint with the official `openai` SDK's `OpenAIRealtimeWS`,
 * unchanged, over TLS (the SDK forces wss; uWS SSLApp serves it with a self-signed certificate), with the echo, elevenlabs and ultravox providers behind it.
 *
 * The route is mounted here on a uWS app built from the gateway's own parts (registry, pacer,
 * metrics, token verifier) exactly as server.ts mounts the other transports.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import uws from 'uWebSockets.js';
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import { createTokenVerifier, generateSigningKey, jwksOf, mintSessionToken } from '../../shared/src/token.ts';
import { createLogger } from '../../shared/src/logger.ts';
import { gatewayConfig } from '../../gateway/src/config.ts';
import { GatewayMetrics } from '../../gateway/src/metrics.ts';
import { Pacer } from '../../gateway/src/session/playout.ts';
import { SessionRegistry } from '../../gateway/src/session/registry.ts';
import { realtimeBehavior } from '../../gateway/src/transports/realtime.ts';
import type { TransportContext } from '../../gateway/src/transports/connection.ts';
import { registerRemoteProviders } from '../../gateway/src/providers/remote.ts';
import { providersConfig } from '../../gateway/src/providers/config.ts';
import { selfSignedCert } from '../stand-ins/lib/tls.ts';
import { alignedSimilarity, decode, encode, utteranceAt } from '../stand-ins/lib/audio.ts';
import { startElevenLabsStandIn } from '../stand-ins/elevenlabs.ts';
import { startUltravoxStandIn } from '../stand-ins/ultravox.ts';
import { tokenInput } from '../gateway/helpers.ts';
import { concat, frames, silence, TestWsClient } from './lib/ws-client.ts';
import type { ProviderName } from '../../shared/src/token.ts';

interface Endpoint {
  /** https base URL for the SDK (`…/v1`) */
  baseURL: string;
  ca: string;
  token(provider: ProviderName, ref?: string): Promise<string>;
  close(): Promise<void>;
}

async function startEndpoint(): Promise<Endpoint> {
  const key = await generateSigningKey();
  const config = gatewayConfig({ GATEWAY_PORT: 0, GATEWAY_HOST: '127.0.0.1' });
  const logger = createLogger('realtime-test', 'silent');
  let registry: SessionRegistry | null = null;
  const metrics = new GatewayMetrics({ defaultMetrics: false, bufferedBytes: () => registry?.bufferedBytes() ?? 0 });
  const pacer = new Pacer(config.GATEWAY_PACE_TICK_MS);
  registry = new SessionRegistry({ config, metrics, pacer, events: null, logger, analyzers: null, tools: null });
  const ctx: TransportContext = {
    verifier: createTokenVerifier(jwksOf(key)), registry, metrics, trustProxy: false, isDraining: () => false, config, pacer, logger, sockets: new Set(),
  };
  // TLS straight on uWS (the SDK forces wss): SSLApp reads the key and certificate from files.
  const { key: tlsKey, cert } = selfSignedCert();
  const dir = mkdtempSync(join(tmpdir(), 'rt-tls-'));
  writeFileSync(join(dir, 'key.pem'), tlsKey);
  writeFileSync(join(dir, 'cert.pem'), cert);
  const app = uws.SSLApp({ key_file_name: join(dir, 'key.pem'), cert_file_name: join(dir, 'cert.pem') });
  app.ws('/v1/realtime', realtimeBehavior(ctx));
  const listen = await new Promise<uws.us_listen_socket>((resolve, reject) => app.listen('127.0.0.1', 0, (tok) => (tok ? resolve(tok) : reject(new Error('listen')))));
  const tlsPort = uws.us_socket_local_port(listen as never);
  rmSync(dir, { recursive: true, force: true });
  registry.start(null);
  pacer.start();
  return {
    baseURL: `https://127.0.0.1:${tlsPort}/v1`,
    ca: cert,
    token: (provider, ref) => mintSessionToken(tokenInput({ provider, transport: 'realtime', agent: ref === undefined ? {} : { ref } }), key),
    async close() {
      for (const s of ctx.sockets) s.closeNow('draining');
      uws.us_listen_socket_close(listen);
      registry!.stop();
      pacer.stop();
    },
  };
}

/** One spoken turn through the SDK: returns the agent audio (decoded) and the events seen. */
async function sdkTurn(ep: Endpoint, token: string, format: 'audio/pcm' | 'audio/pcmu'): Promise<{ events: Record<string, any>[]; audio: Int16Array; rt: OpenAIRealtimeWS }> {
  const rt = new OpenAIRealtimeWS({ model: 'gpt-realtime', options: { ca: ep.ca } }, new OpenAI({ apiKey: token, baseURL: ep.baseURL }));
  const events: Record<string, any>[] = [];
  rt.on('event', (e) => events.push(e as Record<string, any>));
  rt.on('error', (e) => events.push({ type: 'sdk.error', message: e.message }));
  const wait = async (pred: (e: Record<string, any>) => boolean, what: string, ms = 8000): Promise<Record<string, any>> => {
    const end = Date.now() + ms;
    for (;;) {
      const hit = events.find(pred);
      if (hit) return hit;
      if (Date.now() > end) throw new Error(`no ${what}; got ${events.map((e) => e.type).join(',')}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  await wait((e) => e.type === 'session.created', 'session.created');
  const fmt = format === 'audio/pcm' ? { type: 'audio/pcm' as const, rate: 24000 as const } : { type: 'audio/pcmu' as const };
  rt.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { format: fmt }, output: { format: fmt } } } });
  await wait((e) => e.type === 'session.updated', 'session.updated');
  const rate = format === 'audio/pcm' ? 24000 : 8000;
  const enc = format === 'audio/pcm' ? 'pcm16' : 'pcmu';
  // real time, as a microphone would: the gateway paces its output, the providers time their VAD on input
  const turn = concat(silence(rate, 200), utteranceAt('conv00', 0, rate).pcm, silence(rate, 900));
  for (const f of frames(turn, rate, 100)) {
    rt.send({ type: 'input_audio_buffer.append', audio: encode(f, enc).toString('base64') });
    await new Promise((r) => setTimeout(r, 25));
  }
  await wait((e) => e.type === 'response.done', 'response.done', 15000);
  const deltas = events.filter((e) => e.type === 'response.output_audio.delta');
  const audio = decode(Buffer.concat(deltas.map((d) => Buffer.from(d.delta, 'base64'))), enc);
  return { events, audio, rt };
}

// One gateway endpoint and one stand-in per provider for the whole file (one uWS app per process).
const eleven = await startElevenLabsStandIn({ agents: { rt_agent: {} }, script: [{ kind: 'speak', utterance: 1 }], userTranscript: 'hello from the sdk' });
const ultravox = await startUltravoxStandIn({ script: [{ kind: 'silent' }, { kind: 'speak', utterance: 3 }], userTranscript: 'hi ultravox' });
registerRemoteProviders(providersConfig({ ELEVENLABS_BASE_URL: eleven.baseUrl, ULTRAVOX_API_KEY: ultravox.apiKey, ULTRAVOX_BASE_URL: ultravox.baseUrl }));
const ep = await startEndpoint();
t.teardown(async () => {
  await ep.close();
  await eleven.close();
  await ultravox.close();
});

t.test('/v1/realtime: the openai SDK over TLS with the echo provider (pcm 24 kHz)', async (t) => {
  const { events, audio, rt } = await sdkTurn(ep, await ep.token('echo'), 'audio/pcm');
  t.teardown(() => rt.close());
  const order = events.map((e) => e.type);
  t.equal(order[0], 'session.created', 'session.created comes first');
  t.ok(order.indexOf('response.created') < order.indexOf('response.output_audio.delta'), 'response.created before audio');
  t.ok(alignedSimilarity(audio, utteranceAt('conv00', 0, 24000).pcm, 24000) > 0.9, 'the echo reply is the caller utterance, 24 kHz PCM');
  const done = events.find((e) => e.type === 'response.done')!;
  t.equal(done.response.status, 'completed');
  t.match(events.find((e) => e.type === 'response.output_audio_transcript.done')!.transcript, /^\(echo of/);
  t.notOk(events.some((e) => e.type === 'sdk.error'), 'no errors');
  const item = events.find((e) => e.type === 'response.output_item.added')!.item.id;
  rt.send({ type: 'conversation.item.truncate', item_id: item, content_index: 0, audio_end_ms: 100000 });
  rt.send({ type: 'conversation.item.truncate', item_id: item, content_index: 0, audio_end_ms: 500 });
  const end = Date.now() + 3000;
  while (!events.some((e) => e.type === 'conversation.item.truncated') && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  t.match(events.find((e) => e.type === 'sdk.error')?.message ?? '', /already shorter than/, 'a truncate past the audio is an error, as on OpenAI');
  t.equal(events.find((e) => e.type === 'conversation.item.truncated')?.audio_end_ms, 500);
});

t.test('/v1/realtime: elevenlabs behind it, μ-law client, transcripts relayed', async (t) => {
  const si = eleven;
  const { events, audio, rt } = await sdkTurn(ep, await ep.token('elevenlabs', 'elevenlabs:rt_agent'), 'audio/pcmu');
  t.teardown(() => rt.close());
  t.ok(alignedSimilarity(audio, utteranceAt('conv00', 1, 8000).pcm, 8000) > 0.85, 'agent speech, resampled 16 kHz -> μ-law 8 kHz');
  t.equal(events.find((e) => e.type === 'conversation.item.input_audio_transcription.completed')?.transcript, 'hello from the sdk');
  t.equal(events.find((e) => e.type === 'response.output_audio_transcript.done')?.transcript, utteranceAt('conv00', 1, 8000).text);
  t.ok(si.connections[0]!.audioBytes.pcm16 > 16000, 'ElevenLabs received the caller as pcm_16000');
});

t.test('/v1/realtime: ultravox behind it at 24 kHz, nothing resampled', async (t) => {
  const si = ultravox;
  const { events, audio, rt } = await sdkTurn(ep, await ep.token('ultravox'), 'audio/pcm');
  t.teardown(() => rt.close());
  t.ok(alignedSimilarity(audio, utteranceAt('conv00', 3, 24000).pcm, 24000) > 0.9, 'agent speech at 24 kHz');
  t.equal(si.calls[0]!.inputSampleRate, 24000);
  t.equal(events.find((e) => e.type === 'conversation.item.input_audio_transcription.completed')?.transcript, 'hi ultravox');
  t.equal(events.find((e) => e.type === 'response.done')?.response.status, 'completed');
});

t.test('/v1/realtime: tokens, beta shapes and bad events', async (t) => {
  const url = ep.baseURL.replace('https', 'wss') + '/realtime?model=x';
  const bad = new TestWsClient(url, { ca: ep.ca, headers: { Authorization: 'Bearer nope' } });
  await bad.waitClose();
  t.equal(bad.unexpectedResponse, 401, 'a bad token is refused at the upgrade');
  const sub = new TestWsClient(url, { ca: ep.ca, protocols: ['realtime', `openai-insecure-api-key.${await ep.token('echo')}`] });
  t.teardown(() => sub.close());
  await sub.type('session.created');
  t.equal(sub.ws.protocol, 'realtime', 'the key subprotocol is never echoed');
  sub.send({ type: 'nope' });
  t.equal((await sub.type('error')).error.param, 'type');
  sub.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { format: { type: 'audio/pcmu' } }, output: { format: { type: 'audio/pcm', rate: 24000 } } } } });
  await sub.waitFor((m) => m.type === 'error' && m.error.param === 'session.audio');
  t.pass('mismatched input/output formats are refused');
  sub.send({ type: 'session.update', session: { input_audio_format: 'pcm16' } });
  await sub.waitFor((m) => m.type === 'error' && m.error.code === 'beta_api_shape_disabled');
  t.equal((await sub.waitClose()).code, 4000, 'beta shapes close with 4000 like the real API');
});
