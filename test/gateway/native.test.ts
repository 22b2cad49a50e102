import t from 'tap';
import { startTestGateway, connect, speech, streamPcm, sleep, metricsText, metricValue } from './helpers.ts';
import { OpusCodec } from '../../native-bindings/opus.ts';

t.test('native PCM: echo speaks the utterance back, paced at real time', async (t) => {
  const tg = await startTestGateway();
  t.teardown(() => tg.close());
  const c = await connect(`${tg.gw.url}/v1/audio?token=${await tg.token()}`);
  c.send({ type: 'session.start' });
  const started = await c.waitFor((e) => e.type === 'session.started');
  t.same(started.input, { codec: 'pcm16', sample_rate: 24000, frame_ms: 20 });
  const t0 = performance.now();
  await streamPcm(c, speech(0, 5.1), Infinity);
  await streamPcm(c, new Int16Array(24000), Infinity); // 1 s of silence ends the turn
  const tr = await c.waitFor((e) => e.type === 'transcript');
  t.match(String(tr.text), /^\(echo of \d+\.\d s\)$/, 'honest transcript, no invented words');
  const echoedS = Number(/(\d+\.\d)/.exec(String(tr.text))![1]);
  t.ok(echoedS > 4 && echoedS < 5.5, `echoed ${echoedS} s of a ~4.7 s utterance`);
  // After 1 s of wall time at most ~1 s + 200 ms lead of audio may have arrived.
  await sleep(1000);
  const after1s = c.audioBytes() / 48000;
  const elapsed = (performance.now() - t0) / 1000;
  t.ok(after1s <= elapsed + 0.25, `paced: ${after1s.toFixed(2)} s of audio after ${elapsed.toFixed(2)} s`);
  t.ok(after1s > 0.5, 'audio is flowing');
  while (c.audioBytes() < (echoedS - 0.05) * 48000 && performance.now() - t0 < 9000) await sleep(100);
  t.ok(c.audioBytes() >= (echoedS - 0.05) * 48000, `whole reply arrived (${(c.audioBytes() / 48000).toFixed(2)} s)`);
  c.send({ type: 'ping', id: 7 });
  t.same(await c.waitFor((e) => e.type === 'pong'), { type: 'pong', id: 7 });
  c.ws.close();
  await c.closed;
});

t.test('native Opus: packets in, packets out', async (t) => {
  const tg = await startTestGateway();
  t.teardown(() => tg.close());
  const c = await connect(`${tg.gw.url}/v1/audio?codec=opus`, { headers: { authorization: `Bearer ${await tg.token()}` } });
  c.send({ type: 'session.start' });
  const started = await c.waitFor((e) => e.type === 'session.started');
  t.equal((started.output as { codec: string }).codec, 'opus');
  const enc = new OpusCodec({ sampleRate: 24000 });
  const clip = speech(0.3, 2.5);
  const all = new Int16Array(clip.length + 24000);
  all.set(clip);
  for (let i = 0; i + 480 <= all.length; i += 480) c.ws.send(enc.encode(all.subarray(i, i + 480)));
  const tr = await c.waitFor((e) => e.type === 'transcript');
  t.match(String(tr.text), /echo of/);
  while (c.audio.length < 50) await sleep(50);
  const dec = new OpusCodec({ sampleRate: 24000 });
  let samples = 0;
  let energy = 0;
  t.ok(c.audio.every((pkt) => pkt.length < 480), 'each message is one compressed packet');
  for (const pkt of c.audio) {
    const pcm = dec.decode(pkt);
    samples += pcm.length;
    for (const s of pcm) energy += s * s;
  }
  t.equal(samples, c.audio.length * 480, 'every packet decodes to 20 ms at 24 kHz');
  t.ok(Math.sqrt(energy / samples) > 100, 'decoded reply carries speech energy');
  c.ws.send(Buffer.from([0xff, 0xff, 0xff, 0x01, 0x02]));
  const err = await c.waitFor((e) => e.type === 'error');
  t.equal(err.code, 'INVALID_AUDIO');
  c.ws.close();
  await c.closed;
});

t.test('barge-in: caller talks over the reply -> playback.clear, audio stops', async (t) => {
  const tg = await startTestGateway();
  t.teardown(() => tg.close());
  const c = await connect(`${tg.gw.url}/v1/audio?token=${await tg.token()}`);
  c.send({ type: 'session.start' });
  await c.waitFor((e) => e.type === 'session.started');
  await streamPcm(c, speech(0, 5.1), Infinity);
  await streamPcm(c, new Int16Array(24000), Infinity);
  await c.waitFor((e) => e.type === 'transcript');
  await sleep(1000);
  c.send({ type: 'playback.ack', played_ms: 700 });
  await sleep(50);
  await streamPcm(c, speech(8.29, 9.0), Infinity); // the caller talks again
  const clear = await c.waitFor((e) => e.type === 'playback.clear');
  const played = Number(clear.played_ms);
  t.ok(played >= 700 && played <= 1400, `played_ms ${played} follows the ack plus elapsed time`);
  const bytesAtClear = c.audioBytes();
  await sleep(600);
  t.ok(c.audioBytes() - bytesAtClear <= 48000 * 0.25, 'at most what was already in flight arrives after the clear');
  const m = await metricsText(tg.gw);
  t.equal(metricValue(m, 'gateway_active_sessions', 'transport="web"'), 1);
  c.ws.close();
  await c.closed;
});
