import t, { type Test as Tap } from 'tap';
import { randomBytes } from 'node:crypto';
import { startTestGateway, connect, speech, streamPcm, sleep, metricsText, metricValue, type Client, type TestGateway } from './helpers.ts';
import { TwilioMediaClient } from '../stand-ins/twilio-media-client.ts';

/** a healthy native session that must keep working while another client misbehaves */
async function healthy(t: Tap, tg: TestGateway): Promise<{ c: Client; check(): Promise<void> }> {
  const c = await connect(`${tg.gw.url}/v1/audio?token=${await tg.token()}`);
  c.send({ type: 'session.start' });
  await c.waitFor((e) => e.type === 'session.started');
  const talking = (async () => {
    await streamPcm(c, speech(0.3, 2.5), 2);
    await streamPcm(c, new Int16Array(24000), 2);
  })();
  return {
    c,
    async check() {
      await talking;
      const tr = await c.waitFor((e) => e.type === 'transcript');
      t.match(String(tr.text), /echo of/);
      while (c.audioBytes() < 48000 * 1.5) await sleep(50);
      c.send({ type: 'ping', id: 'still-here' });
      await c.waitFor((e) => e.type === 'pong' && e.id === 'still-here');
      t.notOk(c.events.some((e) => e.type === 'error' || e.type === 'session.ended'), 'the healthy session saw no error');
    },
  };
}

t.test('malformed native input gets error events or close codes, never a crash', async (t) => {
  const tg = await startTestGateway({ GATEWAY_MAX_MESSAGES_PER_S: 300 });
  t.teardown(() => tg.close());
  const good = await healthy(t, tg);
  const url = () => tg.token().then((tok) => `${tg.gw.url}/v1/audio?token=${tok}`);

  const bad = await connect(await url());
  const expectError = async (send: () => void, code: string) => {
    const n = bad.events.length;
    send();
    const ev = await bad.waitFor((e) => e.type === 'error' && bad.events.indexOf(e) >= n);
    t.equal(ev.code, code, code);
  };
  await expectError(() => bad.ws.send(randomBytes(777)), 'EVENT_OUT_OF_ORDER'); // audio before session.start
  await expectError(() => bad.send({ type: 'input.commit' }), 'EVENT_OUT_OF_ORDER');
  await expectError(() => bad.send('{"type": "session.start", '), 'INVALID_JSON');
  await expectError(() => bad.send({ type: 'launch.missiles' }), 'UNKNOWN_EVENT');
  await expectError(() => bad.send([1, 2, 3]), 'UNKNOWN_EVENT');
  await expectError(() => bad.send({ type: 'playback.ack', played_ms: 'lots' }), 'INVALID_EVENT');
  await expectError(() => bad.send({ type: 'session.start', codec: 'mp3' }), 'INVALID_EVENT');
  bad.send({ type: 'session.start' });
  await bad.waitFor((e) => e.type === 'session.started');
  await expectError(() => bad.send({ type: 'session.start' }), 'EVENT_OUT_OF_ORDER');
  bad.ws.send(randomBytes(4801)); // random bytes as PCM are just noise: accepted, odd length reframed
  bad.send({ type: 'ping', id: 1 });
  await bad.waitFor((e) => e.type === 'pong');

  const big = await connect(await url());
  big.ws.send(Buffer.alloc(200 * 1024));
  t.equal((await big.closed).code, 1009, 'oversized message: 1009');
  t.ok(big.events.some((e) => e.type === 'error' && e.code === 'MESSAGE_TOO_BIG'), 'oversized: MESSAGE_TOO_BIG error event first');
  const huge = await connect(await url());
  huge.ws.on('error', () => {});
  huge.ws.send(Buffer.alloc(2 * 1024 * 1024));
  t.equal((await huge.closed).code, 1006, 'beyond the hard limit uWS drops the connection at once');

  const utf = await connect(await url());
  utf.ws.send(Buffer.from([0xc3, 0x28, 0x7b]), { binary: false });
  t.equal((await utf.closed).code, 1006, 'invalid UTF-8 in a text frame fails the connection (RFC 6455 8.1)');

  const flood = await connect(await url());
  for (let i = 0; i < 1000; i++) flood.send({ type: 'ping' });
  const fc = await flood.closed;
  t.equal(fc.code, 1008, 'flood: 1008');
  t.ok(flood.events.some((e) => e.type === 'error' && e.code === 'FLOOD'), 'flood: FLOOD error event first');

  const spam = await connect(await url());
  for (let i = 0; i < 30; i++) spam.send('not json');
  t.equal((await spam.closed).code, 1007, 'persistent garbage: closed with the error\'s close code');

  await good.check();
  bad.ws.close();
  await bad.closed;
  good.c.ws.close();
  await good.c.closed;
  const m = await metricsText(tg.gw);
  t.ok(metricValue(m, 'gateway_protocol_errors_total') >= 10, 'protocol errors counted');
});

t.test('malformed Twilio input is counted, bridged audio stays clean, session beside it healthy', async (t) => {
  const tg = await startTestGateway();
  t.teardown(() => tg.close());
  const good = await healthy(t, tg);
  const call = new TwilioMediaClient(`${tg.gw.url}/v1/twilio/media`, { customParameters: { token: await tg.token({ transport: 'twilio' }) } });
  await call.start();
  await sleep(100);
  const sid = call.streamSid;
  call.raw({ event: 'media', sequenceNumber: '3', streamSid: sid, media: { track: 'inbound', chunk: '1', timestamp: '0', payload: '!!!notbase64!!!' } });
  call.raw({ event: 'media', sequenceNumber: '4', streamSid: sid, media: { track: 'inbound', chunk: '2', timestamp: '20' } });
  call.raw({ event: 'wormhole', streamSid: sid });
  call.raw('{{{');
  call.raw({ event: 'start', sequenceNumber: '1', streamSid: sid, start: {} });
  call.ws.send(randomBytes(64)); // binary frame
  call.raw({ event: 'mark', sequenceNumber: '9', streamSid: sid, mark: { name: 'never-sent' } });
  await sleep(100);
  const m = await metricsText(tg.gw);
  t.ok(metricValue(m, 'gateway_protocol_errors_total', 'transport="twilio",code="INVALID_AUDIO"') >= 1, 'bad base64 counted');
  t.ok(metricValue(m, 'gateway_protocol_errors_total', 'transport="twilio",code="UNKNOWN_EVENT"') >= 1, 'unknown event counted');
  t.ok(metricValue(m, 'gateway_protocol_errors_total', 'transport="twilio",code="INVALID_JSON"') >= 1, 'invalid JSON counted');
  t.equal(call.ws.readyState, call.ws.OPEN, 'a few bad messages do not hang up the call');
  for (let i = 0; i < 60; i++) call.raw('garbage');
  const closed = await call.closed;
  t.equal(closed.code, 1007, 'persistent garbage hangs up with a close code');
  await good.check();
  good.c.ws.close();
  await good.c.closed;
});

t.test('slow reader: bounded memory, drops counted, session recovers', async (t) => {
  const tg = await startTestGateway({ GATEWAY_OUTPUT_QUEUE_MS: 1000, GATEWAY_PLAYOUT_LEAD_MS: 120_000, GATEWAY_SEND_HIGH_WATER_BYTES: 64 * 1024 });
  t.teardown(() => tg.close());
  const good = await healthy(t, tg);
  // loopback: every frame comes straight back, so the reply stream is as long as what is sent
  const slow = await connect(`${tg.gw.url}/v1/audio?token=${await tg.token({ agent: { ref: 'echo:loopback' } })}`);
  slow.send({ type: 'session.start' });
  await slow.waitFor((e) => e.type === 'session.started');
  slow.ws.pause(); // stop reading: TCP buffers fill, then the gateway's
  const bound = 48000 /* queue: 1 s at 24 kHz PCM16 */ + 64 * 1024 /* high water */ + 960 /* one frame over */;
  let maxBuffered = 0;
  for (const [conv, spk] of [['conv00', 'a'], ['conv00', 'b'], ['conv01', 'a'], ['conv01', 'b']] as const) {
    await streamPcm(slow, speech(0, 24, conv, spk), 20, 12000); // 500 ms per message, 20x real time
    await sleep(50);
    const m = await metricsText(tg.gw);
    maxBuffered = Math.max(maxBuffered, metricValue(m, 'gateway_output_buffered_bytes'));
  }
  const m = await metricsText(tg.gw);
  const dropped = metricValue(m, 'gateway_dropped_frames_total', 'transport="web"');
  t.ok(dropped > 100, `audio the slow client could not take was dropped and counted (${dropped} frames)`);
  t.ok(maxBuffered <= bound + 48000 * 2 /* the healthy session's own queue */, `gateway-held audio stayed bounded (${maxBuffered} <= ${bound})`);
  slow.ws.resume();
  slow.send({ type: 'ping', id: 'back' });
  await slow.waitFor((e) => e.type === 'pong' && e.id === 'back');
  t.pass('control messages were not dropped; the session recovers when the client reads again');
  await good.check();
  slow.ws.close();
  good.c.ws.close();
  await Promise.all([slow.closed, good.c.closed]);
});
