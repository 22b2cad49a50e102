import t from 'tap';
import { tokenParameters } from '../../shared/src/protocol/twilio-token.ts';
import { startTestGateway, speech, sleep } from './helpers.ts';
import { TwilioMediaClient } from '../stand-ins/twilio-media-client.ts';
import { resampleClip } from '../../gateway/src/audio/wav.ts';
import { mulawEncode, mulawDecode } from '../../gateway/src/audio/g711.ts';

function mulaw(pcm24k: Int16Array): Uint8Array {
  const pcm8 = resampleClip(pcm24k, 24000, 8000);
  const out = new Uint8Array(pcm8.length);
  mulawEncode(pcm8, out);
  return out;
}
const silence = (ms: number) => new Uint8Array(ms * 8).fill(0xff);

function rms(chunks: Buffer[]): number {
  let e = 0;
  let n = 0;
  for (const c of chunks) {
    const pcm = new Int16Array(c.length);
    mulawDecode(c, pcm);
    for (const s of pcm) e += s * s;
    n += pcm.length;
  }
  return n ? Math.sqrt(e / n) : 0;
}

t.test('a whole Twilio call with the echo agent, including a barge-in', async (t) => {
  const tg = await startTestGateway();
  t.teardown(() => tg.close());
  const token = await tg.token({ transport: 'twilio', sub: 'caller' });
  // as Twilio delivers the TwiML the control plane writes: the JWT split over <Parameter>s
  const tokenParams = Object.fromEntries(tokenParameters(token).map((p) => [p.name, p.value]));
  t.ok(Object.keys(tokenParams).length >= 2);
  const call = new TwilioMediaClient(`${tg.gw.url}/v1/twilio/media`, { customParameters: { ...tokenParams, tenant: 'acme' } });
  await call.start();
  await call.sendAudio(mulaw(speech(0, 5.1)));
  await call.sendAudio(silence(800));
  // The reply (about 4.7 s) is playing; let 1.5 s of it play while the caller stays quiet.
  const replyStart = Date.now();
  while (call.receivedBytes === 0 && Date.now() - replyStart < 3000) await call.sendAudio(silence(20));
  t.ok(call.receivedBytes > 0, 'the echo reply arrives');
  await call.sendAudio(silence(1500));
  t.ok(call.marksEchoed.some((m) => !m.flushed), 'marks come back as the audio plays');
  t.ok(call.backlog <= 8 * 260, `paced: the caller's buffer holds ${call.backlog / 8} ms (lead <= 200 ms + one frame)`);
  const playedBefore = call.playedBytes;
  t.ok(playedBefore >= 8 * 1200 && playedBefore <= 8 * 2200, `about 1.5 s played (${playedBefore / 8} ms)`);
  // Barge-in: the caller talks over the agent.
  await call.sendAudio(mulaw(speech(8.29, 9.0)));
  t.equal(call.clears, 1, 'the gateway sends one clear');
  t.ok(call.marksEchoed.some((m) => m.flushed), 'clear returned the pending marks');
  const receivedAtClear = call.receivedBytes;
  const playedReply = call.playedBytes;
  await call.sendAudio(silence(300));
  t.equal(call.receivedBytes, receivedAtClear, 'nothing of the interrupted reply is sent after the clear');
  t.ok(rms(call.played) > 300, 'what played is speech, not silence');
  // End of the barge-in turn: echo answers with it (about 0.7 s).
  await call.sendAudio(silence(700));
  const t1 = Date.now();
  while (call.receivedBytes === receivedAtClear && Date.now() - t1 < 3000) await call.sendAudio(silence(20));
  await call.sendAudio(silence(1200));
  t.ok(call.playedBytes - playedReply >= 8 * 500, `the second reply played (${(call.playedBytes - playedReply) / 8} ms)`);
  t.same(call.errors, [], 'every outbound message was a valid text frame for this stream');
  t.equal(call.binaryFrames, 0, 'no binary frames (Twilio error 31950)');
  t.ok(call.outboundEvents.every((e) => e === 'media' || e === 'mark' || e === 'clear'));
  call.stop();
  const closed = await call.closed;
  t.equal(closed.code, 1000, 'the gateway hangs up after stop');
  await sleep(50);
  const types = tg.received.map((e) => e.type);
  t.ok(types.includes('session.started') && types.includes('transcript.final') && types.includes('session.ended'));
  const ended = tg.received.find((e) => e.type === 'session.ended');
  t.equal(ended?.type === 'session.ended' && ended.reason, 'completed');
  const ticks = tg.received.filter((e) => e.type === 'usage.tick');
  const secondsIn = ticks.reduce((n, e) => n + (e.type === 'usage.tick' ? e.delta.seconds_in : 0), 0);
  t.ok(secondsIn > 9 && secondsIn < 16, `usage counts the caller's audio (${secondsIn} s)`);
  t.ok(ticks.at(-1)?.type === 'usage.tick' && ticks.at(-1)!.type === 'usage.tick' && (ticks.at(-1) as { final: boolean }).final, 'a final usage tick');
});

t.test('provider at 16 kHz PCM: the pipeline converts both ways', async (t) => {
  const tg = await startTestGateway();
  t.teardown(() => tg.close());
  const token = await tg.token({ transport: 'twilio', agent: { ref: 'echo:format=pcm16/16000' } });
  const call = new TwilioMediaClient(`${tg.gw.url}/v1/twilio/media`, { customParameters: { token } });
  await call.start();
  await call.sendAudio(mulaw(speech(0.3, 2.5)), 4);
  await call.sendAudio(silence(800), 4);
  const t0 = Date.now();
  while (call.playedBytes < 8 * 1000 && Date.now() - t0 < 5000) await call.sendAudio(silence(100), 1);
  t.ok(call.playedBytes >= 8 * 1000, 'converted reply plays');
  t.ok(rms(call.played) > 300, 'and carries the speech');
  call.stop();
  await call.closed;
});

t.test('token checked at start before any audio is bridged', async (t) => {
  const tg = await startTestGateway();
  t.teardown(() => tg.close());
  const cases: Array<[string, Record<string, string>, number]> = [
    ['no token', {}, 4401],
    ['garbage token', { token: 'nope' }, 4401],
    ['web token on the Twilio transport', { token: await tg.token({ transport: 'web' }) }, 4401],
  ];
  for (const [name, params, code] of cases) {
    const call = new TwilioMediaClient(`${tg.gw.url}/v1/twilio/media`, { customParameters: params });
    await call.start();
    void call.sendAudio(mulaw(speech(0.3, 1.3)), Infinity);
    const closed = await call.closed;
    t.equal(closed.code, code, `${name}: socket closed with ${code}`);
    t.equal(call.receivedBytes, 0, `${name}: nothing bridged`);
  }
  t.equal(tg.gw.sessions, 0, 'no session was created');
  t.notOk(tg.received.some((e) => e.type === 'session.started'));
});
