import t from 'tap';
import { ConversationTracker, TrackedParticipant, WindowStats } from '../../gateway/src/features/conversation.ts';
import { ScriptedTimeline } from './synth.ts';

function run(script: Record<string, [number, number][]>, totalS: number, step = 25) {
  const tr = new ConversationTracker<ScriptedTimeline>();
  const ids = Object.keys(script);
  const tls = ids.map((id) => new ScriptedTimeline(script[id], totalS, { syllPerS: 4, f0: 150 }));
  ids.forEach((id, i) => tr.add(new TrackedParticipant(id, 'human', tls[i])));
  tr.startAt(0);
  // advance in uneven steps, as the 250 ms timer would
  for (let h = 0; h < totalS * 100; h += step) {
    for (const tl of tls) tl.advance(Math.min(h + step, totalS * 100));
    tr.advanceTo(Math.min(h + step, totalS * 100));
  }
  return { tr, ids };
}

t.test('talk time, silence, overlap', async (t) => {
  const { tr } = run({ a: [[0, 3], [5, 8]], b: [[2.5, 5.5]] }, 10);
  t.equal(tr.parts[0].talkHops, 600);
  t.equal(tr.parts[1].talkHops, 300);
  t.equal(tr.overlapHops, 100, 'overlap 2.5-3 and 5-5.5 s');
  t.equal(tr.parts[0].overlapHops, 100);
  t.equal(tr.silenceHops, 200, 'silence 8-10 s');
  t.equal(tr.anyHops, 800);
  t.equal(tr.parts[0].turns, 2);
  t.equal(tr.parts[1].turns, 1);
});

t.test('interruption: start over someone, both talk >= 200 ms; who interrupted whom', async (t) => {
  const { tr } = run({ a: [[0, 4]], b: [[3, 6]] }, 8);
  t.equal(tr.interruptionCount, 1);
  t.equal(tr.intBy[0], 1, 'b interrupted');
  t.equal(tr.intOf[0], 0, 'a was interrupted');
  t.equal(tr.intHop[0], 300, 'at 3 s');
  t.equal(tr.parts[1].interruptionsMade, 1);
  t.equal(tr.parts[0].interruptedByOthers, 1);
});

t.test('overlap under 200 ms is not an interruption (turn-end overlap)', async (t) => {
  const { tr } = run({ a: [[0, 3.15]], b: [[3, 5]] }, 6);
  t.equal(tr.interruptionCount, 0);
  t.equal(tr.overlapHops, 15);
});

t.test('exactly 200 ms of overlap counts', async (t) => {
  const { tr } = run({ a: [[0, 3.2]], b: [[3, 5]] }, 6);
  t.equal(tr.interruptionCount, 1);
});

t.test('simultaneous starts are nobody\'s interruption', async (t) => {
  const { tr } = run({ a: [[1, 3]], b: [[1, 3]] }, 4);
  t.equal(tr.interruptionCount, 0);
  t.equal(tr.overlapHops, 200);
});

t.test('three parties: the interrupted one is whoever started first', async (t) => {
  const { tr } = run({ a: [[0, 5]], b: [[1, 5]], c: [[2, 3]] }, 6);
  t.equal(tr.interruptionCount, 2);
  t.same([tr.intBy[0], tr.intOf[0]], [1, 0], 'b over a');
  t.same([tr.intBy[1], tr.intOf[1]], [2, 0], 'c over a (the first speaker)');
});

t.test('repeated interruptions are each counted', async (t) => {
  const { tr } = run({ a: [[0, 20]], b: [[2, 2.5], [6, 7], [12, 12.1], [15, 16]] }, 21);
  t.equal(tr.interruptionCount, 3, 'the 100 ms one is not');
  t.equal(tr.parts[1].interruptionsMade, 3);
});

t.test('response gaps between turns of different speakers', async (t) => {
  const { tr } = run({ a: [[0, 2], [5, 6], [6.5, 7]], b: [[2.4, 4], [8, 9]] }, 10);
  // a->b 400 ms, b->a 1000 ms, a pause a->a (not a gap), a->b 1000 ms
  t.same(Array.from(tr.gaps.subarray(0, tr.gapCount)), [400, 1000, 1000]);
});

t.test('sliding windows: talk, overlap, syllables, interruptions per window', async (t) => {
  const { tr } = run({ a: [[0, 40]], b: [[35, 38], [38.5, 39.5]] }, 40);
  const w = new WindowStats();
  tr.windowStats(0, 10, w);
  t.equal(w.talkS, 10);
  t.equal(w.overlapS, 4);
  t.equal(w.totalTalkS, 14);
  tr.windowStats(1, 10, w);
  t.equal(w.talkS, 4);
  t.equal(w.interrupts, 2);
  t.equal(w.syllables, 16, '4 syll/s over 4 s');
  tr.windowStats(0, 30, w);
  t.equal(w.talkS, 30);
  t.equal(w.interrupts, 0);
});

t.test('pitch percentiles from the histogram', async (t) => {
  const { tr } = run({ a: [[0, 2]] }, 3);
  const med = tr.pitchPercentile(0, 0.5);
  t.ok(Math.abs(med - 150) / 150 < 0.01, `median ${med}`);
});
