/**
 * Adapter details the shared conformance suite does not cover: what each adapter puts on the wire
 * (GA session shape, ElevenLabs init + signed URL + pong, Ultravox call body + hang_up), ElevenLabs'
 * stale-audio rule, Ultravox input continuity, format mismatch, the tool dispatcher and its HTTP
 * client, and per-tenant credentials.
 */
import http from 'node:http';
import t from 'tap';
import { AppError } from '../../shared/src/errors.ts';
import { OpenAIProvider } from '../../gateway/src/providers/openai/index.ts';
import { ElevenLabsProvider } from '../../gateway/src/providers/elevenlabs/index.ts';
import { UltravoxProvider } from '../../gateway/src/providers/ultravox/index.ts';
import { credentialsFor, loadProvidersConfig, providersConfig } from '../../gateway/src/providers/config.ts';
import { httpToolHandler, parseToolOutput, ToolDispatcher } from '../../gateway/src/providers/tools.ts';
import { startOpenAIStandIn } from '../stand-ins/openai.ts';
import { startElevenLabsStandIn } from '../stand-ins/elevenlabs.ts';
import { startUltravoxStandIn } from '../stand-ins/ultravox.ts';
import { until } from '../stand-ins/lib/script.ts';
import { callerTurn, claimsFor, logger, push, RecordingSink } from './conformance.ts';

function connect(p: OpenAIProvider | ElevenLabsProvider | UltravoxProvider, sink: RecordingSink, provider: 'openai' | 'elevenlabs' | 'ultravox'): Promise<void> {
  sink.provider = p;
  return p.connect({ claims: claimsFor(provider, 'twilio'), sink, logger, signal: new AbortController().signal });
}

t.test('openai: GA session.update for a Twilio call is μ-law both ways, with VAD, transcription, tools', async (t) => {
  const si = await startOpenAIStandIn();
  t.teardown(() => si.close());
  const config = providersConfig({ OPENAI_API_KEY: si.apiKey, OPENAI_BASE_URL: si.baseURL, PROVIDER_EXTRA_CA_PEM: si.ca, OPENAI_VOICE: 'cedar' });
  const p = new OpenAIProvider(claimsFor('openai', 'twilio', 'openai:gpt-realtime-mini'), config);
  const sink = new RecordingSink();
  await connect(p, sink, 'openai');
  t.teardown(() => p.close());
  const conn = si.connections[0]!;
  t.match(conn.url, /model=gpt-realtime-mini/);
  const update = conn.events.find((e) => e.type === 'session.update') as any;
  t.equal(update.session.type, 'realtime');
  t.same(update.session.audio.input.format, { type: 'audio/pcmu' });
  t.same(update.session.audio.output.format, { type: 'audio/pcmu' });
  t.equal(update.session.audio.input.turn_detection.type, 'server_vad');
  t.same(update.session.audio.input.transcription, { model: 'whisper-1' });
  t.equal(update.session.audio.output.voice, 'cedar');
  t.equal(update.session.instructions, 'Be brief.');
  t.same(update.session.tools.map((x: any) => x.name), ['lookup']);
  t.equal(conn.errorsSent.length, 0, 'the GA shape is accepted');
  // μ-law passes straight through: one byte per 8 kHz sample reaches OpenAI, nothing resampled
  const sent = push(p, callerTurn(8000));
  await until(() => conn.audioBytes.pcmu >= sent, 5000, 'all audio at the far side');
  t.equal(conn.audioBytes.pcmu, sent);
  t.equal(conn.audioBytes.pcm16, 0);
  await until(() => sink.done.length > 0, 5000, 'reply');
  t.equal(sink.pcm(p.outputFormat).length, sink.audioBytes(), 'one output byte per sample (G.711)');
});

t.test('openai: a key the server refuses, and an unreachable server, reject connect', async (t) => {
  const si = await startOpenAIStandIn();
  const base = si.baseURL;
  await si.close();
  const p = new OpenAIProvider(claimsFor('openai', 'web'), providersConfig({ OPENAI_API_KEY: 'k', OPENAI_BASE_URL: base, PROVIDER_CONNECT_TIMEOUT_MS: '1000' }));
  const err = await connect(p, new RecordingSink(), 'openai').catch((e: unknown) => e);
  t.ok(err instanceof AppError && err.code === 'PROVIDER_UNAVAILABLE', 'connection refused -> PROVIDER_UNAVAILABLE');
  const none = new OpenAIProvider(claimsFor('openai', 'web'), providersConfig({ OPENAI_BASE_URL: base }));
  const err2 = await connect(none, new RecordingSink(), 'openai').catch((e: unknown) => e);
  t.match((err2 as AppError).message, /OPENAI_API_KEY/, 'a missing key names the setting');
});

t.test('elevenlabs: signed URL, init with overrides and dynamic variables, pong, stale audio dropped', async (t) => {
  const si = await startElevenLabsStandIn({ agents: { a1: { private: true } }, script: [{ kind: 'speak', utterance: 3, interruptAfterMs: 500 }] });
  t.teardown(() => si.close());
  const config = providersConfig({ ELEVENLABS_API_KEY: si.apiKey, ELEVENLABS_BASE_URL: si.baseUrl });
  const claims = claimsFor('elevenlabs', 'web', 'elevenlabs:a1');
  claims.agent.voice = 'voice-9';
  const p = new ElevenLabsProvider(claims, config);
  const sink = new RecordingSink();
  await connect(p, sink, 'elevenlabs');
  t.teardown(() => p.close());
  t.equal(si.signedUrlsIssued.length, 1, 'a signed URL was fetched with the key');
  const conn = si.connections[0]!;
  t.match(conn.url, /conversation_signature=/);
  const init = conn.initData as any;
  t.equal(init.type, 'conversation_initiation_client_data');
  t.same(init.conversation_config_override, { agent: { prompt: { prompt: 'Be brief.' } }, tts: { voice_id: 'voice-9' } });
  t.same(init.dynamic_variables, { session_id: 'sess-conformance', participant: 'caller-1' });
  si.ping();
  await until(() => conn.pongs.length === 1, 5000, 'pong');
  t.pass('ping answered with pong');
  push(p, callerTurn(16000));
  await until(() => sink.interruptions === 1, 5000, 'interruption');
  await new Promise((r) => setTimeout(r, 100));
  t.ok(conn.staleBytesOut > 0, 'the stand-in sent a stale chunk after the interruption');
  t.equal(sink.audioBytes(), conn.audioOutBytes.pcm16 - conn.staleBytesOut, 'audio with event_id <= the interruption is dropped');
  t.equal(p.staleDropped, 1);
  t.equal(conn.audioBytes.pcm16 % 3200, 0, 'caller audio goes in 100 ms user_audio_chunks');
});

t.test('elevenlabs: an agent whose formats differ from the configured ones is refused clearly', async (t) => {
  const si = await startElevenLabsStandIn({ agents: { a2: { inputFormat: 'ulaw_8000', outputFormat: 'ulaw_8000' } } });
  t.teardown(() => si.close());
  const p = new ElevenLabsProvider(claimsFor('elevenlabs', 'web', 'elevenlabs:a2'), providersConfig({ ELEVENLABS_BASE_URL: si.baseUrl }));
  const err = await connect(p, new RecordingSink(), 'elevenlabs').catch((e: unknown) => e);
  t.ok(err instanceof AppError);
  t.equal((err as AppError).code, 'PROVIDER_ERROR');
  t.match((err as AppError).message, /ulaw_8000/);
  t.equal(si.signedUrlsIssued.length, 0, 'without a key a public agent is joined directly');
});

t.test('ultravox: call body, continuous input with silence, hang_up on close', async (t) => {
  const si = await startUltravoxStandIn({ script: [{ kind: 'silent' }] });
  t.teardown(() => si.close());
  const p = new UltravoxProvider(claimsFor('ultravox', 'twilio'), providersConfig({ ULTRAVOX_API_KEY: si.apiKey, ULTRAVOX_BASE_URL: si.baseUrl, ULTRAVOX_VOICE: 'Mark' }));
  const sink = new RecordingSink();
  await connect(p, sink, 'ultravox');
  const call = si.calls[0]!;
  t.same(call.body.medium, { serverWebSocket: { inputSampleRate: 8000, outputSampleRate: 8000, clientBufferSizeMs: 30000 } });
  t.equal(call.body.systemPrompt, 'Be brief.');
  t.equal(call.body.voice, 'Mark');
  t.equal(call.body.firstSpeaker, 'FIRST_SPEAKER_AGENT');
  t.equal((call.body.selectedTools as any[])[0].temporaryTool.modelToolName, 'lookup');
  t.equal(p.callId, call.callId);
  // The session sends nothing for a while (a muted client): the adapter keeps 20 ms frames flowing.
  const conn = si.connections[0]!;
  await until(() => conn.audioBytesIn >= 8000 * 2 * 0.3, 5000, '300 ms of filled silence');
  t.ok(p.filledMs >= 300, `silence filled (${p.filledMs} ms)`);
  t.equal(conn.oddFrames, 0);
  t.ok(conn.audioIn.every((f) => f.length === 160), 'whole 20 ms frames at 8 kHz');
  await p.close();
  await until(() => conn.closed !== null, 5000, 'close');
  t.same(conn.hangUp, { type: 'hang_up', message: 'session ended' });
  t.same(sink.closed, [true]);
});

t.test('tools: dispatcher outcomes and the control-plane HTTP handler', async (t) => {
  const d = new ToolDispatcher(async (name, args) => {
    if (name === 'boom') throw new Error('kaput');
    if (name === 'err') return { error: 'no such city' };
    return { result: name === 'text' ? 'plain' : { args } };
  }, 200);
  const ctx = { sessionId: 's', tenantId: 'tn', participant: 'p', provider: 'openai' };
  t.same(await d.run({ callId: '1', name: 'x', arguments: '{"a":1}' }, ctx).then((r) => [r.ok, r.output]), [true, '{"args":{"a":1}}']);
  t.same(await d.run({ callId: '2', name: 'text', arguments: '' }, ctx).then((r) => [r.ok, r.output]), [true, 'plain']);
  const boom = await d.run({ callId: '3', name: 'boom', arguments: '{}' }, ctx);
  t.same(parseToolOutput(boom.output), { ok: false, message: 'tool boom failed: kaput' });
  const err = await d.run({ callId: '4', name: 'err', arguments: '{}' }, ctx);
  t.same(parseToolOutput(err.output), { ok: false, message: 'no such city' });
  const bad = await d.run({ callId: '5', name: 'x', arguments: '{nope' }, ctx);
  t.equal(bad.ok, false);
  t.same(parseToolOutput('{"error":"x","more":1}'), { ok: true, text: '{"error":"x","more":1}' }, 'only the exact error shape is an error');

  const seen: { url?: string; auth?: string; body?: any }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ url: req.url, auth: req.headers.authorization, body: JSON.parse(body) });
      const ok = req.url === '/internal/tools/natal_chart';
      res.writeHead(ok ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(ok ? { result: { sun: 'Leo' } } : { error: { code: 'NOT_FOUND', message: 'unknown tool' } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as { port: number }).port;
  const h = new ToolDispatcher(httpToolHandler({ baseUrl: `http://127.0.0.1:${port}/`, serviceToken: 'svc-secret' }), 2000);
  const ok = await h.run({ callId: 'c1', name: 'natal_chart', arguments: '{"date":"1990-01-01"}' }, ctx);
  t.same([ok.ok, ok.output], [true, '{"sun":"Leo"}']);
  t.same(seen[0], { url: '/internal/tools/natal_chart', auth: 'Bearer svc-secret', body: { args: { date: '1990-01-01' }, session_id: 's', call_id: 'c1' } });
  const missing = await h.run({ callId: 'c2', name: 'nope', arguments: '{}' }, ctx);
  t.same(parseToolOutput(missing.output), { ok: false, message: 'unknown tool' });
});

t.test('config: per-tenant credentials override the defaults; bad overrides name the variable', async (t) => {
  const c = loadProvidersConfig({ OPENAI_API_KEY: 'sk-default', PROVIDER_TENANT_OVERRIDES: JSON.stringify({ t9: { openai: { apiKey: 'sk-t9', baseUrl: 'https://proxy.example/v1' } } }) });
  t.same(credentialsFor(c, 'openai', 't9'), { apiKey: 'sk-t9', baseUrl: 'https://proxy.example/v1' });
  t.same(credentialsFor(c, 'openai', 'other'), { apiKey: 'sk-default', baseUrl: 'https://api.openai.com/v1' });
  t.same(credentialsFor(c, 'ultravox', 't9'), { apiKey: undefined, baseUrl: 'https://api.ultravox.ai' });
  t.throws(() => loadProvidersConfig({ PROVIDER_TENANT_OVERRIDES: '{not json' }), /PROVIDER_TENANT_OVERRIDES/);
  t.ok(Object.isFrozen(c));
});
