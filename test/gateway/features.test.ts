import t from 'tap';
import { startTestGateway, connect, speech, streamPcm } from './helpers.ts';

t.test('native session with echo: a fast talker gets SLOW_DOWN, live features every 250 ms', async (t) => {
  const tg = await startTestGateway();
  t.teardown(() => tg.close());
  // conv00 speaker a talks fast (labelled 6.7 syllables/s; the detector hears ~4.5). The token's nudge
  // rules set the threshold at 4 syllables/s and a 4 s hold, which also shows the rules flow from the token.
  const rules = { slow_down_hold_s: 4, slow_down_syll_per_s: 4 };
  const c = await connect(`${tg.gw.url}/v1/audio?token=${await tg.token({ agent: { nudges: rules } })}`);
  c.send({ type: 'session.start' });
  await c.waitFor((e) => e.type === 'session.started');
  await streamPcm(c, speech(0, 5.1), 1);
  const nudge = await c.waitFor((e) => e.type === 'nudge', 3000);
  t.equal(nudge.kind, 'SLOW_DOWN');
  t.equal(nudge.participant, 'caller');
  const feats = c.events.filter((e) => e.type === 'features');
  t.ok(feats.length >= 15, `features events arrive every 250 ms (${feats.length} in ~5 s)`);
  const last = feats.at(-1) as { participants: Array<{ participant: string; kind: string; talk_time_s: number }> };
  const caller = last.participants.find((p) => p.participant === 'caller');
  t.ok(caller && caller.talk_time_s > 3, `caller talk time ${caller?.talk_time_s} s`);
  t.ok(last.participants.some((p) => p.kind === 'agent'), 'the agent is a participant of the analysis');
  await streamPcm(c, new Int16Array(24000), 4);
  c.ws.close();
  await c.closed;
  await new Promise((r) => setTimeout(r, 50));
  const summary = tg.received.find((e) => e.type === 'features.summary');
  t.ok(summary, 'a features.summary event at the end');
});

t.test('two humans in one session: the one who interrupts gets LET_THEM_FINISH', async (t) => {
  const tg = await startTestGateway();
  t.teardown(() => tg.close());
  const sid = `coach-${Date.now()}`;
  const common = { sid, participants: ['alice', 'bob'], agent: { nudges: { interrupts_in_window: 1 } } };
  const alice = await connect(`${tg.gw.url}/v1/audio?token=${await tg.token({ ...common, sub: 'alice' })}`);
  const bob = await connect(`${tg.gw.url}/v1/audio?token=${await tg.token({ ...common, sub: 'bob' })}`);
  alice.send({ type: 'session.start' });
  bob.send({ type: 'session.start' });
  await Promise.all([alice.waitFor((e) => e.type === 'session.started'), bob.waitFor((e) => e.type === 'session.started')]);
  // conv00: bob (track b) starts talking at 1.83 s while alice (track a) is mid-sentence.
  await Promise.all([streamPcm(alice, speech(0, 3.6, 'conv00', 'a'), 1), streamPcm(bob, speech(0, 3.6, 'conv00', 'b'), 1)]);
  const n = await bob.waitFor((e) => e.type === 'nudge', 3000);
  t.equal(n.kind, 'LET_THEM_FINISH');
  t.equal(n.participant, 'bob');
  t.notOk(alice.events.some((e) => e.type === 'nudge' && e.kind === 'LET_THEM_FINISH'), 'the one talked over is not nudged');
  alice.ws.close();
  bob.ws.close();
  await Promise.all([alice.closed, bob.closed]);
});
