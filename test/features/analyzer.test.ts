import t from 'tap';
import { ConversationAnalyzer } from '../../gateway/src/features/analyzer.ts';
import { FeaturesEvent, FeaturesSummary, type NudgeEvent } from '../../shared/src/features.ts';
import { loadCorpus } from '../../bench/lib/features-corpus.ts';
import { syllableTrain, place } from './synth.ts';

const RATE = 24000;

/** Drive an analyzer with per-participant tracks, ticking every 250 ms; returns events. */
function drive(fa: ConversationAnalyzer, tracks: Int16Array[], idx: number[], opts: { skip?: (k: number, tMs: number) => boolean } = {}) {
  const fs = fa.frameSamples;
  const frames = Math.floor(Math.min(...tracks.map((x) => x.length)) / fs);
  const nudges: NudgeEvent[] = [];
  const events: FeaturesEvent[] = [];
  for (let f = 0; f < frames; f++) {
    const tMs = f * 20;
    for (let k = 0; k < tracks.length; k++) {
      if (opts.skip?.(k, tMs)) continue;
      fa.pushFrame(idx[k], tracks[k].subarray(f * fs, (f + 1) * fs), tMs);
    }
    // the session's 250 ms timer, firing at each 250 ms boundary the audio has reached
    if (Math.floor((tMs + 20) / 250) > Math.floor(tMs / 250)) {
      const r = fa.tick(Math.floor((tMs + 20) / 250) * 250);
      events.push(r.features);
      nudges.push(...r.nudges);
    }
  }
  return { nudges, events, endMs: frames * 20 };
}

t.test('a fast talker gets SLOW_DOWN (and the agent never gets nudges)', async (t) => {
  const fa = new ConversationAnalyzer({ sampleRate: RATE });
  const human = fa.addParticipant('caller', 'human');
  const agent = fa.addParticipant('agent', 'agent');
  const h = new Int16Array(RATE * 16);
  place(h, syllableTrain(RATE, 14, 7, 140, 9000), RATE, 0.5);
  const a = new Int16Array(RATE * 16);
  place(a, syllableTrain(RATE, 3, 7.5, 200, 9000), RATE, 12);
  const { nudges } = drive(fa, [h, a], [human, agent]);
  t.ok(nudges.length >= 1, `nudges: ${nudges.map((n) => `${n.kind}@${n.t_ms}`).join(', ')}`);
  t.equal(nudges[0].kind, 'SLOW_DOWN');
  t.equal(nudges[0].participant, 'caller');
  t.ok(nudges[0].t_ms >= 5000 && nudges[0].t_ms <= 11000, `after at least 5 s of fast speech (${nudges[0].t_ms} ms)`);
  t.ok(nudges.every((n) => n.participant === 'caller'), 'only the human is nudged');
  for (let i = 1; i < nudges.length; i++) t.ok(nudges[i].t_ms - nudges[i - 1].t_ms >= 10000, 'rate limited to one per 10 s');
});

t.test('an interrupter gets LET_THEM_FINISH; the one talked over does not', async (t) => {
  const fa = new ConversationAnalyzer({ sampleRate: RATE });
  const ia = fa.addParticipant('alice', 'human');
  const ib = fa.addParticipant('bob', 'human');
  const a = new Int16Array(RATE * 24);
  const b = new Int16Array(RATE * 24);
  place(a, syllableTrain(RATE, 6, 4, 210, 9000), RATE, 0.5);
  place(b, syllableTrain(RATE, 1.5, 4, 110, 9000), RATE, 4); // over alice's turn
  place(a, syllableTrain(RATE, 6, 4, 210, 9000), RATE, 8);
  place(b, syllableTrain(RATE, 2, 4, 110, 9000), RATE, 11); // again
  const { nudges } = drive(fa, [a, b], [ia, ib]);
  const s = fa.summary();
  t.equal(s.interruptions.length, 2, JSON.stringify(s.interruptions));
  t.ok(s.interruptions.every((i) => i.by === 'bob' && i.of === 'alice'));
  t.ok(Math.abs(s.interruptions[0].t_ms - 4000) <= 100, `first at ${s.interruptions[0].t_ms} ms`);
  const ltf = nudges.filter((n) => n.kind === 'LET_THEM_FINISH');
  t.equal(ltf.length, 1, JSON.stringify(nudges));
  t.equal(ltf[0].participant, 'bob');
  t.ok(ltf[0].t_ms >= 11200 && ltf[0].t_ms <= 12500, `right after the second interruption (${ltf[0].t_ms} ms)`);
  t.notOk(nudges.some((n) => n.participant === 'alice' && n.kind === 'LET_THEM_FINISH'));
});

t.test('a quiet talker gets SPEAK_UP', async (t) => {
  const fa = new ConversationAnalyzer({ sampleRate: RATE });
  const i = fa.addParticipant('q', 'human');
  const x = new Int16Array(RATE * 8);
  place(x, syllableTrain(RATE, 7, 4, 180, 700), RATE, 0.5); // about -44 dBFS while speaking
  const { nudges } = drive(fa, [x], [i]);
  t.equal(nudges[0]?.kind, 'SPEAK_UP', JSON.stringify(nudges));
  const s = fa.summary();
  const lvl = s.participants[0].speech_level_dbfs ?? 0;
  t.ok(lvl < -42 && lvl > -52, `speech level ${lvl} dBFS`);
});

t.test('rules from the token override the defaults', async (t) => {
  const fa = new ConversationAnalyzer({ sampleRate: RATE, rules: { slow_down_syll_per_s: 9, enabled: true } });
  const i = fa.addParticipant('p', 'human');
  const x = new Int16Array(RATE * 14);
  place(x, syllableTrain(RATE, 13, 7, 140, 9000), RATE, 0.5);
  const { nudges } = drive(fa, [x], [i]);
  t.same(nudges, [], '7 syll/s is under a 9 syll/s threshold');
  t.equal(fa.rules.slow_down_syll_per_s, 9);
});

t.test('live features event: shape, speaking flag, share, rate', async (t) => {
  const fa = new ConversationAnalyzer({ sampleRate: RATE });
  const ia = fa.addParticipant('a', 'human');
  const ib = fa.addParticipant('b', 'human');
  const a = new Int16Array(RATE * 8);
  const b = new Int16Array(RATE * 8);
  place(a, syllableTrain(RATE, 7, 5, 150, 9000), RATE, 0.5);
  const { events } = drive(fa, [a, b], [ia, ib]);
  t.equal(events.length, 32, `one per 250 ms (${events.length})`);
  for (const e of events) FeaturesEvent.parse(e);
  const last = events[27]; // 7 s: a is mid-utterance
  const [pa, pb] = last.participants;
  t.equal(pa.speaking, true);
  t.equal(pb.speaking, false);
  t.equal(pa.talk_share, 1);
  t.equal(pb.talk_share, 0);
  t.ok(pa.rate_syll_per_s !== null && Math.abs(pa.rate_syll_per_s - 5) < 0.75, `rate ${pa.rate_syll_per_s}`);
  t.ok(pa.pitch_hz !== null && Math.abs(pa.pitch_hz - 150) < 3, `pitch ${pa.pitch_hz}`);
  t.ok(pa.level_dbfs > -30, `level ${pa.level_dbfs}`);
  t.equal(pb.rate_syll_per_s, null);
});

t.test('participants aligned on tMs: an agent whose frames only flow while it talks', async (t) => {
  const fa = new ConversationAnalyzer({ sampleRate: RATE });
  const h = fa.addParticipant('caller', 'human');
  const ag = fa.addParticipant('agent', 'agent');
  const x = new Int16Array(RATE * 10);
  place(x, syllableTrain(RATE, 3, 4, 150, 9000), RATE, 0.5); // caller 0.5-3.5
  const y = new Int16Array(RATE * 10);
  place(y, syllableTrain(RATE, 3, 4, 220, 9000), RATE, 4.5); // agent 4.5-7.5, frames only 4.4-7.6 s
  drive(fa, [x, y], [h, ag], { skip: (k, tMs) => k === 1 && (tMs < 4400 || tMs >= 7600) });
  const s = fa.summary(10000);
  FeaturesSummary.parse(s);
  const [c, a] = s.participants;
  t.ok(Math.abs(c.talk_time_s - 3) < 0.15, `caller ${c.talk_time_s}`);
  t.ok(Math.abs(a.talk_time_s - 3) < 0.15, `agent ${a.talk_time_s}`);
  t.equal(s.overlap_s, 0);
  t.equal(s.response_gaps.count, 1);
  t.ok(Math.abs((s.response_gaps.median_ms ?? 0) - 1000) <= 60, `gap ${s.response_gaps.median_ms}`);
  t.ok(Math.abs(s.duration_s - 10) < 0.05);
  t.ok(Math.abs(s.silence_s - 4) < 0.3, `silence ${s.silence_s}`);
});

t.test('wrong frame size, unknown or removed participant: frame refused, nothing thrown', async (t) => {
  const fa = new ConversationAnalyzer({ sampleRate: 16000 });
  const i = fa.addParticipant('p', 'human');
  t.equal(fa.frameSamples, 320);
  t.equal(fa.pushFrame(i, new Int16Array(480), 0), false);
  t.equal(fa.pushFrame(7, new Int16Array(320), 0), false);
  t.equal(fa.pushFrame(i, new Int16Array(320), 0), true);
  fa.removeParticipant(i);
  t.equal(fa.pushFrame(i, new Int16Array(320), 20), false);
  t.equal(fa.indexOf('p'), -1);
});

t.test('summary of a corpus conversation validates and matches the labels', async (t) => {
  const conv = loadCorpus()[3];
  const fa = new ConversationAnalyzer({ sampleRate: RATE });
  const ia = fa.addParticipant('a', 'human');
  const ib = fa.addParticipant('b', 'human');
  drive(fa, [conv.tracks.a, conv.tracks.b], [ia, ib]);
  for (const u of conv.labels.utterances) fa.addTranscript(u.speaker === 'a' ? ia : ib, u.text, u.start * 1000, u.end * 1000);
  const s = FeaturesSummary.parse(fa.summary());
  const ref = (spk: string) => conv.labels.speech[spk].reduce((acc, [a, b]) => acc + b - a, 0);
  t.ok(Math.abs(s.participants[0].talk_time_s - ref('a')) / ref('a') < 0.1);
  t.ok(Math.abs(s.participants[1].talk_time_s - ref('b')) / ref('b') < 0.1);
  const overlapRef = conv.labels.overlap.reduce((acc, [a, b]) => acc + b - a, 0);
  t.ok(Math.abs(s.overlap_s - overlapRef) <= 0.3, `overlap ${s.overlap_s} vs ${overlapRef}`);
  t.equal(s.interruptions.length, conv.labels.overlap.filter(([a, b]) => b - a >= 0.2).length);
  const words = conv.labels.utterances.filter((u) => u.speaker === 'a').reduce((n, u) => n + u.text.split(/\s+/).filter(Boolean).length, 0);
  t.equal(s.participants[0].words, words);
  t.ok((s.participants[0].words_per_minute ?? 0) > 100, `wpm ${s.participants[0].words_per_minute}`);
  t.ok(s.participants[0].pitch !== null && s.participants[0].pitch.median_hz > 60 && s.participants[0].pitch.median_hz < 300);
  t.ok(s.response_gaps.count >= 3);
});

t.test('caller frames arriving in jittery 100 ms bursts keep their timeline', async (t) => {
  const fa = new ConversationAnalyzer({ sampleRate: RATE });
  const i = fa.addParticipant('caller', 'human');
  const x = new Int16Array(RATE * 10);
  place(x, syllableTrain(RATE, 3, 4, 150, 9000), RATE, 1);
  place(x, syllableTrain(RATE, 2, 4, 150, 9000), RATE, 6);
  const fs = fa.frameSamples;
  // chunk k (frames 5k..5k+4, audio [100k, 100k + 100) ms) arrives at 100k + 100 ms + up to 60 ms jitter
  const jitter = [0, 60, 10, 40, 0, 55, 20, 0, 35, 60];
  for (let k = 0; k < 100; k++) {
    const arrival = 100 * k + 100 + jitter[k % jitter.length];
    for (let j = 0; j < 5; j++) {
      const f = 5 * k + j;
      fa.pushFrame(i, x.subarray(f * fs, (f + 1) * fs), arrival);
    }
    fa.tick(arrival);
  }
  const s = fa.summary();
  const p = s.participants[0];
  t.ok(Math.abs(p.talk_time_s - 5) < 0.2, `talk time ${p.talk_time_s} s`);
  t.equal(p.turns, 2);
  t.ok(Math.abs(s.duration_s - 10) < 0.3, `duration ${s.duration_s}`);
});

t.test('a session without audio still yields a valid event and summary', async (t) => {
  const fa = new ConversationAnalyzer({ sampleRate: 8000 });
  fa.addParticipant('caller', 'human');
  fa.addParticipant('agent', 'agent');
  const ev = FeaturesEvent.parse(fa.snapshot(250));
  t.same(ev.participants.map((p) => [p.participant, p.speaking, p.talk_time_s]), [['caller', false, 0], ['agent', false, 0]]);
  t.same(fa.takeNudges(250), []);
  const s = FeaturesSummary.parse(fa.summary(1000));
  t.equal(s.participants.length, 2);
  t.equal(s.participants[0].speaking_rate_syll_per_s, null);
  t.equal(s.participants[0].pitch, null);
  t.equal(s.response_gaps.count, 0);
  t.same(s.nudges, { SLOW_DOWN: 0, LET_THEM_FINISH: 0, SPEAK_UP: 0, GIVE_SPACE: 0 });
});

t.test('one who holds the floor gets GIVE_SPACE (8 kHz session)', async (t) => {
  const rate = 8000;
  const fa = new ConversationAnalyzer({ sampleRate: rate });
  const ia = fa.addParticipant('ann', 'human');
  const ib = fa.addParticipant('ben', 'human');
  const a = new Int16Array(rate * 60);
  const b = new Int16Array(rate * 60);
  const turnA = syllableTrain(rate, 10, 4, 200, 9000);
  const turnB = syllableTrain(rate, 1.4, 4, 120, 9000); // 10.3-11.7 s of each 12 s: no overlap
  for (let k = 0; k < 5; k++) {
    place(a, turnA, rate, 12 * k);
    place(b, turnB, rate, 12 * k + 10.3);
  }
  const { nudges } = drive(fa, [a, b], [ia, ib]);
  const gs = nudges.filter((n) => n.kind === 'GIVE_SPACE');
  t.ok(gs.length >= 1, JSON.stringify(nudges.map((n) => `${n.participant}:${n.kind}@${n.t_ms}`)));
  t.ok(gs.every((n) => n.participant === 'ann'), 'only the one holding the floor');
  t.ok(gs[0].reason.value > 0.85 && gs[0].reason.value < 0.95, `share ${gs[0].reason.value} (10 s of every 11.4 s of talk)`);
  t.equal(gs[0].intensity, 3);
  t.ok(gs[0].t_ms >= 30000, `needs 30 s of talk in the window first (${gs[0].t_ms} ms)`);
  t.notOk(nudges.some((n) => n.participant === 'ben'));
  t.same(nudges.map((n) => n.kind).filter((k) => k !== 'GIVE_SPACE'), [], 'no other rule holds');
});
