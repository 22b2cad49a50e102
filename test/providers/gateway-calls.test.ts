/**
 * Whole calls through the gateway (uWS server, Twilio transport, session pipeline) with network
 * providers behind it: a Twilio call through `openai` is μ-law end to end, byte for byte, with no
 * resampling; through an ElevenLabs pcm_16000 agent the audio is resampled both ways and still
 * speech on both ends.
 */
import t from 'tap';
import { registerRemoteProviders } from '../../gateway/src/providers/remote.ts';
import { providersConfig } from '../../gateway/src/providers/config.ts';
import { alignedSimilarity, decode, encode, utteranceAt } from '../stand-ins/lib/audio.ts';
import { until } from '../stand-ins/lib/script.ts';
import { startOpenAIStandIn, type OpenAIStandInOptions } from '../stand-ins/openai.ts';
import { startElevenLabsStandIn } from '../stand-ins/elevenlabs.ts';
import { TwilioMediaClient } from '../stand-ins/twilio-media-client.ts';
import { startTestGateway, sleep } from '../gateway/helpers.ts';
import { concat, silence } from './lib/ws-client.ts';

const silenceMu = (ms: number): Uint8Array => new Uint8Array(ms * 8).fill(0xff);

/** an OpenAI stand-in behind a test gateway, and a started Twilio call to it (all torn down with `t`) */
async function twilioCallThroughOpenAI(t: { teardown(fn: () => unknown): void }, opts: OpenAIStandInOptions) {
  const si = await startOpenAIStandIn(opts);
  t.teardown(() => si.close());
  registerRemoteProviders(providersConfig({ OPENAI_API_KEY: si.apiKey, OPENAI_BASE_URL: si.baseURL, PROVIDER_EXTRA_CA_PEM: si.ca }));
  const tg = await startTestGateway();
  t.teardown(() => tg.close());
  const token = await tg.token({ transport: 'twilio', provider: 'openai', sub: 'caller' });
  const call = new TwilioMediaClient(`${tg.gw.url}/v1/twilio/media`, { customParameters: { token } });
  await call.start();
  t.teardown(() => call.ws.terminate());
  return { si, call };
}

t.test('Twilio -> gateway -> openai: μ-law passes straight through both ways', async (t) => {
  const { si, call } = await twilioCallThroughOpenAI(t, { script: [{ kind: 'speak', utterance: 1 }], userTranscript: 'hello' });
  // Twilio streams continuously; the provider connects while the first frames flow.
  for (let i = 0; i < 50 && (si.connections[0]?.audioBytes.pcmu ?? 0) === 0; i++) await call.sendAudio(silenceMu(100));
  t.ok(si.connections[0]!.audioBytes.pcmu > 0, 'audio reaches OpenAI');
  const conn = si.connections[0]!;
  const session = conn.session as { audio: { input: { format: unknown }; output: { format: unknown } } };
  t.same(session.audio.input.format, { type: 'audio/pcmu' }, 'OpenAI hears μ-law');
  t.same(session.audio.output.format, { type: 'audio/pcmu' }, 'OpenAI speaks μ-law');
  await sleep(100);
  const before = conn.audioBytes.pcmu;
  // whole 20 ms frames: the gateway reframes to 160 bytes, and a partial last frame waits for more
  const pcm = concat(utteranceAt('conv00', 0, 8000).pcm, silence(8000, 800));
  const turn = encode(pcm.subarray(0, pcm.length - (pcm.length % 160)), 'pcmu');
  await call.sendAudio(turn, 4);
  await until(() => conn.audioBytes.pcmu >= before + turn.length, 5000, 'the turn at OpenAI');
  t.ok(Buffer.concat(conn.rawIn).subarray(before, before + turn.length).equals(turn), 'OpenAI received exactly the bytes Twilio sent');
  const replyLen = utteranceAt('conv00', 1, 8000).pcm.length;
  await until(() => conn.audioOutBytes.pcmu === replyLen, 5000, 'the whole reply sent');
  const reply = Buffer.concat(conn.rawOut);
  const whole = reply.length - (reply.length % 160);
  for (let i = 0; i < 60 && call.playedBytes < whole; i++) await call.sendAudio(silenceMu(100));
  const played = Buffer.concat(call.played);
  t.ok(played.length >= whole && played.subarray(0, whole).equals(reply.subarray(0, whole)), 'Twilio played exactly the bytes OpenAI sent');
  t.same(call.errors, []);
});

t.test('Twilio -> gateway -> elevenlabs pcm_16000: resampled both ways, speech on both ends', async (t) => {
  const si = await startElevenLabsStandIn({ agents: { agent_t: { private: true } }, script: [{ kind: 'speak', utterance: 1 }] });
  t.teardown(() => si.close());
  registerRemoteProviders(providersConfig({ ELEVENLABS_API_KEY: si.apiKey, ELEVENLABS_BASE_URL: si.baseUrl }));
  const tg = await startTestGateway();
  t.teardown(() => tg.close());
  const token = await tg.token({ transport: 'twilio', provider: 'elevenlabs', sub: 'caller', agent: { ref: 'elevenlabs:agent_t' } });
  const call = new TwilioMediaClient(`${tg.gw.url}/v1/twilio/media`, { customParameters: { token } });
  await call.start();
  t.teardown(() => call.ws.terminate());
  for (let i = 0; i < 50 && (si.connections[0]?.audioBytes.pcm16 ?? 0) === 0; i++) await call.sendAudio(silenceMu(100));
  t.ok(si.connections[0]!.audioBytes.pcm16 > 0, 'audio reaches ElevenLabs');
  const conn = si.connections[0]!;
  const speech8k = utteranceAt('conv00', 0, 8000).pcm;
  await call.sendAudio(encode(concat(speech8k, silence(8000, 800)), 'pcmu'), 4);
  await until(() => conn.audioOutBytes.pcm16 > 0, 8000, 'the agent answering');
  const heard = concat(...conn.audioIn);
  t.ok(alignedSimilarity(heard, utteranceAt('conv00', 0, 16000).pcm, 16000, 600) > 0.8, 'ElevenLabs heard the caller at 16 kHz (μ-law 8 kHz upsampled)');
  const replyMs = (utteranceAt('conv00', 1, 16000).pcm.length / 16000) * 1000;
  for (let i = 0; i < 60 && call.playedBytes < replyMs * 8 - 160; i++) await call.sendAudio(silenceMu(100));
  const played = decode(Buffer.concat(call.played), 'pcmu');
  t.ok(alignedSimilarity(played, utteranceAt('conv00', 1, 8000).pcm, 8000, 600) > 0.8, 'the caller heard the agent at 8 kHz μ-law (16 kHz downsampled)');
  t.same(call.errors, []);
});

t.test('what the caller says while the provider is still connecting reaches it, first and in order', async (t) => {
  // a provider that takes 700 ms to accept the session: the caller is already talking
  const { si, call } = await twilioCallThroughOpenAI(t, { upgradeDelayMs: 700, userTranscript: 'hello' });
  await sleep(150); // the token is verified and the call bridged; the provider is still connecting
  t.equal(si.connections.length, 0, 'the provider has not accepted yet');
  const speech = utteranceAt('conv00', 0, 8000).pcm;
  const words = encode(speech.subarray(0, 8000 - (8000 % 160)), 'pcmu'); // the first second, spoken in real time
  await call.sendAudio(words);
  await until(() => (si.connections[0]?.audioBytes.pcmu ?? 0) >= words.length, 5000, 'the first second at OpenAI');
  const heard = Buffer.concat(si.connections[0]!.rawIn);
  t.ok(heard.subarray(0, words.length).equals(words), 'OpenAI heard the caller from the first byte, none lost during its connect');
  t.same(call.errors, []);
});

t.test('Twilio dtmf reaches the agent as the caller\'s turn, and it answers', async (t) => {
  const { si, call } = await twilioCallThroughOpenAI(t, { script: [{ kind: 'speak', utterance: 1 }], userTranscript: 'hello' });
  for (let i = 0; i < 50 && si.connections.length === 0; i++) await call.sendAudio(silenceMu(100));
  const conn = si.connections[0]!;
  await until(() => conn.events.some((e) => e.type === 'session.update'), 5000, 'the session configured');
  call.dtmf('7');
  await until(() => conn.events.some((e) => e.type === 'response.create'), 5000, 'a response requested');
  const item = conn.events.find((e) => e.type === 'conversation.item.create') as { item: { role: string; content: Array<{ text: string }> } } | undefined;
  t.equal(item?.item.role, 'user', 'the key press is the caller\'s turn');
  t.match(item?.item.content[0]?.text, /phone key 7\b/, 'naming the key');
  call.raw({ event: 'dtmf', sequenceNumber: '99', streamSid: call.streamSid, dtmf: { track: 'inbound_track', digit: 'x; drop table' } });
  call.dtmf('#');
  const items = () => conn.events.filter((e) => e.type === 'conversation.item.create') as Array<{ item: { content: Array<{ text: string }> } }>;
  await until(() => items().length >= 2, 5000, 'the next key at the agent');
  t.match(items()[1]?.item.content[0]?.text, /phone key #/, 'a key that is not a phone key never reaches the agent; the next one does');
  t.equal(items().length, 2);
});
