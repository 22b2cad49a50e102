/**
 * The provider stand-ins, driven by the clients real code would use: the official `openai` SDK's
 * `OpenAIRealtimeWS` over TLS, and plain `ws` for ElevenLabs and Ultravox.
 */
import t from 'tap';
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import { decode, encode, similarity, utteranceAt } from '../stand-ins/lib/audio.ts';
import { startOpenAIStandIn } from '../stand-ins/openai.ts';
import { startElevenLabsStandIn } from '../stand-ins/elevenlabs.ts';
import { startUltravoxStandIn } from '../stand-ins/ultravox.ts';
import { concat, frames, silence, TestWsClient } from './lib/ws-client.ts';

/** The caller's turn: corpus utterance 0 then 700 ms of silence (ends the turn under 500 ms VAD). */
function userTurn(rate: number): Int16Array {
  return concat(silence(rate, 200), utteranceAt('conv00', 0, rate).pcm, silence(rate, 700));
}

function sdkEvents(rt: OpenAIRealtimeWS): Record<string, any>[] {
  const events: Record<string, any>[] = [];
  rt.on('event', (e) => events.push(e as Record<string, any>));
  return events;
}

async function waitEvent(events: Record<string, any>[], type: string, timeoutMs = 5000, from = 0): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = events.slice(from).find((e) => e.type === type);
    if (hit !== undefined) return hit;
    if (Date.now() > deadline) throw new Error(`no ${type}; got ${events.map((e) => e.type).join(',')}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

t.test('openai: the SDK over TLS, GA session, μ-law turn with VAD, transcription, audio reply', async (t) => {
  const si = await startOpenAIStandIn({ userTranscript: 'what is the weather like' });
  t.teardown(() => si.close());
  const rt = new OpenAIRealtimeWS({ model: 'gpt-realtime', options: { ca: si.ca } }, new OpenAI({ apiKey: si.apiKey, baseURL: si.baseURL }));
  const errors: unknown[] = [];
  rt.on('error', (e) => errors.push(e));
  const events = sdkEvents(rt);
  t.teardown(() => rt.close());
  const created = await waitEvent(events, 'session.created');
  t.equal(created.session.type, 'realtime');
  rt.send({
    type: 'session.update',
    session: {
      type: 'realtime', output_modalities: ['audio'],
      audio: { input: { format: { type: 'audio/pcmu' }, transcription: { model: 'whisper-1' } }, output: { format: { type: 'audio/pcmu' }, voice: 'marin' } },
    },
  });
  const updated = await waitEvent(events, 'session.updated');
  t.same(updated.session.audio.input.format, { type: 'audio/pcmu' });
  const turn = userTurn(8000);
  let sent = 0;
  for (const f of frames(turn, 8000, 20)) {
    const b = encode(f, 'pcmu');
    sent += b.length;
    rt.send({ type: 'input_audio_buffer.append', audio: b.toString('base64') });
  }
  const started = await waitEvent(events, 'input_audio_buffer.speech_started');
  t.ok(started.audio_start_ms >= 0 && started.audio_start_ms < 300, `speech starts near 200 ms (${started.audio_start_ms})`);
  const stopped = await waitEvent(events, 'input_audio_buffer.speech_stopped');
  t.ok(stopped.audio_end_ms > 2000, 'speech stops after the utterance');
  const tr = await waitEvent(events, 'conversation.item.input_audio_transcription.completed');
  t.equal(tr.transcript, 'what is the weather like');
  const done = await waitEvent(events, 'response.done');
  t.equal(done.response.status, 'completed');
  t.ok(done.response.usage.output_tokens > 0 && done.response.usage.total_tokens > done.response.usage.output_tokens, 'usage tokens');
  const deltas = events.filter((e) => e.type === 'response.output_audio.delta');
  const out = decode(Buffer.concat(deltas.map((d) => Buffer.from(d.delta, 'base64'))), 'pcmu');
  const expected = utteranceAt('conv00', 3, 8000);
  t.equal(out.length, expected.pcm.length, 'whole reply, 1 byte per 8 kHz sample');
  t.ok(similarity(out, expected.pcm) > 0.95, 'reply is the corpus utterance in μ-law');
  const transcript = await waitEvent(events, 'response.output_audio_transcript.done');
  t.equal(transcript.transcript, expected.text);
  const conn = si.connections[0]!;
  t.equal(conn.audioBytes.pcmu, sent, 'stand-in recorded every μ-law byte');
  t.equal(conn.authorization, `Bearer ${si.apiKey}`);
  t.ok(conn.url.includes('model=gpt-realtime'));
  t.equal(errors.length, 0);
});

t.test('openai: beta shapes and bad keys are refused like the real server', async (t) => {
  const si = await startOpenAIStandIn();
  t.teardown(() => si.close());
  const c = new TestWsClient(`${si.realtimeUrl}?model=gpt-realtime`, { ca: si.ca, headers: { Authorization: `Bearer ${si.apiKey}` } });
  t.teardown(() => c.close());
  await c.type('session.created');
  c.send({ type: 'session.update', session: { modalities: ['audio'], input_audio_format: 'g711_ulaw' } });
  const err = await c.type('error');
  t.equal(err.error.code, 'beta_api_shape_disabled');
  t.equal((await c.waitClose()).code, 4000);

  const bad = new TestWsClient(`${si.realtimeUrl}?model=gpt-realtime`, { ca: si.ca, headers: { Authorization: 'Bearer nope' } });
  await bad.waitClose();
  t.equal(bad.unexpectedResponse, 401);

  const sub = new TestWsClient(`${si.realtimeUrl}?model=gpt-realtime`, { ca: si.ca, protocols: ['realtime', `openai-insecure-api-key.${si.apiKey}`] });
  t.teardown(() => sub.close());
  await sub.type('session.created');
  sub.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { format: { type: 'audio/pcm', rate: 16000 } } } } });
  t.equal((await sub.type('error')).error.param, 'session.audio.input.format');
  sub.send({ type: 'response.cancel' });
  t.ok(await sub.waitFor((m) => m.type === 'error' && m.error.code === 'response_cancel_not_active'));
});

t.test('openai: truncate is clamped by the server, tool call round trip, barge-in cancels', async (t) => {
  const si = await startOpenAIStandIn({ script: [{ kind: 'tool', name: 'lookup', args: { city: 'Oslo' } }, { kind: 'speak', utterance: 1 }, { kind: 'speak', utterance: 3, speed: 1 }] });
  t.teardown(() => si.close());
  const c = new TestWsClient(`${si.realtimeUrl}?model=gpt-realtime`, { ca: si.ca, headers: { Authorization: `Bearer ${si.apiKey}` } });
  t.teardown(() => c.close());
  await c.type('session.created');
  c.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { turn_detection: null } } } });
  await c.type('session.updated');
  c.send({ type: 'response.create' });
  const call = await c.type('response.function_call_arguments.done');
  t.same(JSON.parse(call.arguments), { city: 'Oslo' });
  t.equal(call.name, 'lookup');
  await c.type('response.done');
  c.send({ type: 'conversation.item.create', item: { type: 'function_call_output', call_id: call.call_id, output: '{"temp":3}' } });
  c.send({ type: 'response.create' });
  const item = await c.waitFor((m) => m.type === 'response.output_item.added' && m.item.type === 'message');
  const n = c.messages.length;
  await c.waitFor((m) => m.type === 'response.done', 5000, n);
  t.same(si.connections[0]!.toolOutputs, [{ call_id: call.call_id, output: '{"temp":3}' }]);
  const audioMs = Math.floor((utteranceAt('conv00', 1, 24000).pcm.length * 1000) / 24000);
  c.send({ type: 'conversation.item.truncate', item_id: item.item.id, content_index: 0, audio_end_ms: audioMs + 500 });
  const err = await c.waitFor((m) => m.type === 'error', 5000, n);
  t.match(err.error.message, /already shorter than/);
  c.send({ type: 'conversation.item.truncate', item_id: item.item.id, content_index: 0, audio_end_ms: 400 });
  const tr = await c.type('conversation.item.truncated');
  t.equal(tr.audio_end_ms, 400);
  t.same(si.connections[0]!.truncations, [{ item_id: item.item.id, content_index: 0, audio_end_ms: 400 }]);

  // Real-time pacing, then the caller talks over it: server VAD cancels the response.
  c.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { turn_detection: { type: 'server_vad' } } } } });
  await c.waitFor((m) => m.type === 'session.updated' && m.session.audio.input.turn_detection !== null, 5000, n);
  const m = c.messages.length;
  c.send({ type: 'response.create' });
  await c.waitFor((x) => x.type === 'response.output_audio.delta', 5000, m);
  for (const f of frames(utteranceAt('conv00', 0, 24000).pcm.subarray(0, 24000), 24000, 100)) {
    c.send({ type: 'input_audio_buffer.append', audio: encode(f, 'pcm16').toString('base64') });
  }
  await c.waitFor((x) => x.type === 'input_audio_buffer.speech_started', 5000, m);
  const done = await c.waitFor((x) => x.type === 'response.done', 5000, m);
  t.equal(done.response.status, 'cancelled');
  t.equal(done.response.status_details.reason, 'turn_detected');
});

t.test('openai: scripted error and drop', async (t) => {
  const si = await startOpenAIStandIn({ script: [{ kind: 'error', code: 'server_error', message: 'boom' }, { kind: 'speak', utterance: 1, dropAfterMs: 300 }] });
  t.teardown(() => si.close());
  const c = new TestWsClient(`${si.realtimeUrl}?model=gpt-realtime`, { ca: si.ca, headers: { Authorization: `Bearer ${si.apiKey}` } });
  t.teardown(() => c.close());
  await c.type('session.created');
  c.send({ type: 'response.create' });
  const err = await c.type('error');
  t.equal(err.error.code, 'server_error');
  c.send({ type: 'response.create' });
  const closed = await c.waitClose();
  t.equal(closed.code, 1006, 'dropped without a close frame');
  t.ok(c.messages.some((m) => m.type === 'response.output_audio.delta'), 'some audio before the drop');
});

t.test('elevenlabs: signed URL, init then metadata, ulaw turn, audio ids, ping/pong', async (t) => {
  const si = await startElevenLabsStandIn({ agents: { agent_x: { private: true, inputFormat: 'ulaw_8000', outputFormat: 'ulaw_8000' } }, userTranscript: 'hi agent' });
  t.teardown(() => si.close());
  const bad = await fetch(`${si.baseUrl}/v1/convai/conversation/get-signed-url?agent_id=agent_x`, { headers: { 'xi-api-key': 'wrong' } });
  t.equal(bad.status, 401);
  const unsigned = new TestWsClient(`${si.wsBaseUrl}/v1/convai/conversation?agent_id=agent_x`);
  await unsigned.waitClose();
  t.equal(unsigned.unexpectedResponse, 403, 'private agent needs a signature');
  const res = await fetch(`${si.baseUrl}/v1/convai/conversation/get-signed-url?agent_id=agent_x`, { headers: { 'xi-api-key': si.apiKey } });
  const { signed_url } = (await res.json()) as { signed_url: string };
  t.match(signed_url, /conversation_signature=/);
  const c = new TestWsClient(signed_url);
  t.teardown(() => c.close());
  await c.opened();
  c.send({ type: 'conversation_initiation_client_data', conversation_config_override: { agent: { first_message: 'hi' } }, dynamic_variables: { name: 'Ann' } });
  const meta = await c.type('conversation_initiation_metadata');
  t.equal(meta.conversation_initiation_metadata_event.agent_output_audio_format, 'ulaw_8000');
  t.equal(meta.conversation_initiation_metadata_event.user_input_audio_format, 'ulaw_8000');
  for (const f of frames(userTurn(8000), 8000, 250)) c.send({ user_audio_chunk: encode(f, 'pcmu').toString('base64') });
  const ut = await c.type('user_transcript');
  t.equal(ut.user_transcription_event.user_transcript, 'hi agent');
  const ar = await c.type('agent_response');
  t.equal(ar.agent_response_event.agent_response, utteranceAt('conv00', 3, 8000).text);
  const expected = utteranceAt('conv00', 3, 8000).pcm;
  await c.waitFor(() => c.messages.filter((m) => m.type === 'audio').reduce((n, m) => n + Buffer.from(m.audio_event.audio_base_64, 'base64').length, 0) >= expected.length);
  const audio = c.messages.filter((m) => m.type === 'audio');
  const ids = audio.map((m) => m.audio_event.event_id as number);
  t.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]!), 'audio event ids increase');
  const out = decode(Buffer.concat(audio.map((m) => Buffer.from(m.audio_event.audio_base_64, 'base64'))), 'pcmu');
  t.ok(similarity(out, expected) > 0.95, 'reply is corpus speech in μ-law');
  si.ping();
  const ping = await c.type('ping');
  c.send({ type: 'pong', event_id: ping.ping_event.event_id });
  await new Promise((r) => setTimeout(r, 50));
  const conn = si.connections[0]!;
  t.same(conn.pongs, [ping.ping_event.event_id]);
  t.same((conn.initData as any).dynamic_variables, { name: 'Ann' });
  t.equal(conn.audioBytes.pcmu, userTurn(8000).length);
});

t.test('elevenlabs: tool call, interruption with a stale chunk, error close, init required', async (t) => {
  const si = await startElevenLabsStandIn({ script: [{ kind: 'tool', name: 'get_time', args: { tz: 'UTC' } }, { kind: 'speak', utterance: 3, interruptAfterMs: 500 }, { kind: 'error', message: 'llm timeout' }] });
  t.teardown(() => si.close());
  const c = new TestWsClient(`${si.wsBaseUrl}/v1/convai/conversation?agent_id=agent_public`);
  t.teardown(() => c.close());
  await c.opened();
  c.send({ type: 'conversation_initiation_client_data' });
  await c.type('conversation_initiation_metadata');
  void si.respond();
  const call = await c.type('client_tool_call');
  t.equal(call.client_tool_call.tool_name, 'get_time');
  t.same(call.client_tool_call.parameters, { tz: 'UTC' });
  c.send({ type: 'client_tool_result', tool_call_id: call.client_tool_call.tool_call_id, result: '12:00', is_error: false });
  const intr = await c.type('interruption');
  const cut = intr.interruption_event.event_id as number;
  await c.waitFor((m) => m.type === 'audio' && m.audio_event.event_id <= cut && c.messages.indexOf(m) > c.messages.indexOf(intr));
  t.pass('a stale audio event (id <= interruption id) follows the interruption');
  t.same(si.connections[0]!.toolResults, [{ tool_call_id: call.client_tool_call.tool_call_id, result: '12:00', is_error: false }]);
  void si.respond();
  const err = await c.type('error');
  t.equal(err.error_event.code, 1011);
  t.equal((await c.waitClose()).code, 1011);

  const early = new TestWsClient(`${si.wsBaseUrl}/v1/convai/conversation?agent_id=agent_public`);
  await early.opened();
  early.send({ user_audio_chunk: Buffer.alloc(320).toString('base64') });
  t.equal((await early.waitClose()).code, 1008);
});

t.test('ultravox: create + join, continuous PCM both ways, transcripts, tools, clear, ping, hang up', async (t) => {
  const si = await startUltravoxStandIn({ script: [{ kind: 'speak', utterance: 3 }, { kind: 'tool', name: 'lookup', args: { q: 'x' } }, { kind: 'speak', utterance: 1, interruptAfterMs: 300 }] });
  t.teardown(() => si.close());
  const denied = await fetch(`${si.baseUrl}/api/calls`, { method: 'POST', headers: { 'x-api-key': 'bad', 'content-type': 'application/json' }, body: '{}' });
  t.equal(denied.status, 403);
  const res = await fetch(`${si.baseUrl}/api/calls`, {
    method: 'POST',
    headers: { 'x-api-key': si.apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ systemPrompt: 'be brief', firstSpeaker: 'FIRST_SPEAKER_USER', medium: { serverWebSocket: { inputSampleRate: 16000, outputSampleRate: 24000, clientBufferSizeMs: 30000 } } }),
  });
  t.equal(res.status, 201);
  const { callId, joinUrl } = (await res.json()) as { callId: string; joinUrl: string };
  const c = new TestWsClient(joinUrl);
  t.teardown(() => c.close());
  t.equal((await c.type('call_started')).callId, callId);
  for (const f of frames(userTurn(16000), 16000, 20)) c.ws.send(encode(f, 'pcm16'));
  const user = await c.waitFor((m) => m.type === 'transcript' && m.role === 'user');
  t.equal(user.final, true);
  const fin = await c.waitFor((m) => m.type === 'transcript' && m.role === 'agent' && m.final === true);
  t.equal(fin.text, utteranceAt('conv00', 3, 24000).text);
  const out = decode(Buffer.concat(c.binaries), 'pcm16');
  t.ok(similarity(out, utteranceAt('conv00', 3, 24000).pcm) > 0.95, 'agent audio is PCM s16le at the output rate');
  c.send({ type: 'ping', timestamp: 12.5 });
  t.equal((await c.type('pong')).timestamp, 12.5);
  void si.respond();
  const inv = await c.type('client_tool_invocation');
  t.equal(inv.toolName, 'lookup');
  c.send({ type: 'client_tool_result', invocationId: inv.invocationId, result: '{"ok":true}' });
  await c.type('playback_clear_buffer');
  c.send({ type: 'hang_up', message: 'bye' });
  t.equal((await c.waitClose()).code, 1000);
  const conn = si.connections[0]!;
  t.equal(conn.audioBytesIn, userTurn(16000).length * 2);
  t.equal(conn.oddFrames, 0);
  t.equal(conn.clears, 1);
  t.same(conn.hangUp, { type: 'hang_up', message: 'bye' });
  t.equal(conn.toolResults.length, 1);

  const again = await fetch(`${si.baseUrl}/api/calls?priorCallId=${callId}`, {
    method: 'POST', headers: { 'x-api-key': si.apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ medium: { serverWebSocket: { inputSampleRate: 8000 } } }),
  });
  t.equal(again.status, 201);
  t.equal(si.calls[1]!.priorCallId, callId);
  t.equal(si.calls[1]!.outputSampleRate, 8000, 'output rate defaults to input rate');
  t.equal(si.calls[1]!.clientBufferSizeMs, 60);
});
