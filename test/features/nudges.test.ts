import t from 'tap';
import { NudgeEngine, checkNudge, resolveNudgeRules, emptyMeasures, DEFAULT_NUDGE_RULES, type NudgeMeasures } from '../../gateway/src/features/nudges.ts';
import { NudgeEvent } from '../../shared/src/features.ts';

const m = (o: Partial<NudgeMeasures>): NudgeMeasures => ({ ...emptyMeasures(), others: 1, ...o });

t.test('defaults match the issue', async (t) => {
  t.same(DEFAULT_NUDGE_RULES, {
    enabled: true, min_interval_s: 10, slow_down_syll_per_s: 5.5, slow_down_hold_s: 10, interrupts_in_window: 2,
    interrupt_window_s: 30, overlap_ratio_max: 0.3, speak_up_dbfs: -40, give_space_share: 0.7, give_space_window_s: 120,
  });
});

t.test('each rule fires on its measure and not below its threshold', async (t) => {
  const r = resolveNudgeRules();
  t.equal(checkNudge(r, m({ rate: 6.2, rateSpeechS: 8 }))?.kind, 'SLOW_DOWN');
  t.equal(checkNudge(r, m({ rate: 5.4, rateSpeechS: 8 })), null);
  t.equal(checkNudge(r, m({ rate: 7, rateSpeechS: 4 })), null, 'fast but only 4 s of speech in 10 s: not sustained');
  t.equal(checkNudge(r, m({ interrupts: 2 }))?.kind, 'LET_THEM_FINISH');
  t.equal(checkNudge(r, m({ interrupts: 1 })), null);
  t.equal(checkNudge(r, m({ interrupts: 1, overlapRatio: 0.35, overlapTalkS: 10 }))?.kind, 'LET_THEM_FINISH');
  t.equal(checkNudge(r, m({ interrupts: 0, overlapRatio: 0.5, overlapTalkS: 10 })), null, 'overlap from being talked over is not yours');
  t.equal(checkNudge(r, m({ levelDbfs: -46, levelSpeechS: 5 }))?.kind, 'SPEAK_UP');
  t.equal(checkNudge(r, m({ levelDbfs: -38, levelSpeechS: 5 })), null);
  t.equal(checkNudge(r, m({ levelDbfs: -46, levelSpeechS: 1 })), null, 'a quiet word is not sustained');
  t.equal(checkNudge(r, m({ share: 0.75, shareTotalS: 60 }))?.kind, 'GIVE_SPACE');
  t.equal(checkNudge(r, m({ share: 0.65, shareTotalS: 60 })), null);
  t.equal(checkNudge(r, m({ share: 0.95, shareTotalS: 10 })), null, 'too little talk in the window');
  t.equal(checkNudge(r, m({ share: 1, shareTotalS: 60, others: 0 })), null, 'alone: nobody to give space to');
});

t.test('intensity grows with distance past the threshold', async (t) => {
  const r = resolveNudgeRules();
  t.equal(checkNudge(r, m({ rate: 5.8, rateSpeechS: 8 }))?.intensity, 1);
  t.equal(checkNudge(r, m({ rate: 6.8, rateSpeechS: 8 }))?.intensity, 2);
  t.equal(checkNudge(r, m({ rate: 8, rateSpeechS: 8 }))?.intensity, 3);
  t.equal(checkNudge(r, m({ interrupts: 2 }))?.intensity, 1);
  t.equal(checkNudge(r, m({ interrupts: 4 }))?.intensity, 3);
  t.equal(checkNudge(r, m({ levelDbfs: -52, levelSpeechS: 5 }))?.intensity, 3);
  t.equal(checkNudge(r, m({ share: 0.85, shareTotalS: 60 }))?.intensity, 2);
});

t.test('priority when several rules hold', async (t) => {
  const r = resolveNudgeRules();
  const all = m({ rate: 7, rateSpeechS: 8, interrupts: 3, levelDbfs: -50, levelSpeechS: 5, share: 0.9, shareTotalS: 60 });
  t.equal(checkNudge(r, all)?.kind, 'LET_THEM_FINISH');
  t.equal(checkNudge(r, { ...all, interrupts: 0 })?.kind, 'SLOW_DOWN');
  t.equal(checkNudge(r, { ...all, interrupts: 0, rate: 4 })?.kind, 'SPEAK_UP');
  t.equal(checkNudge(r, { ...all, interrupts: 0, rate: 4, levelDbfs: -20 })?.kind, 'GIVE_SPACE');
});

t.test('per-session overrides and disabling', async (t) => {
  t.equal(checkNudge(resolveNudgeRules({ slow_down_syll_per_s: 7 }), m({ rate: 6.2, rateSpeechS: 8 })), null);
  t.equal(checkNudge(resolveNudgeRules({ interrupts_in_window: 3 }), m({ interrupts: 2 })), null);
  t.equal(checkNudge(resolveNudgeRules({ speak_up_dbfs: -50 }), m({ levelDbfs: -46, levelSpeechS: 5 })), null);
  t.equal(checkNudge(resolveNudgeRules({ give_space_share: 0.8 }), m({ share: 0.75, shareTotalS: 60 })), null);
  t.equal(checkNudge(resolveNudgeRules({ enabled: false }), m({ interrupts: 5 })), null);
});

t.test('scripted stream: SLOW_DOWN every 10 s at most, per participant, with the rate limit', async (t) => {
  const e = new NudgeEngine();
  const fast = m({ rate: 6.5, rateSpeechS: 9 });
  const got: { t: number; p: string; kind: string }[] = [];
  // a feature stream every 250 ms for 30 s: participant x talks fast throughout; y from 12 s on
  for (let ms = 0; ms <= 30000; ms += 250) {
    const nx = e.evaluate('x', fast, ms);
    if (nx) got.push({ t: ms, p: nx.participant, kind: nx.kind });
    const ny = e.evaluate('y', ms >= 12000 ? fast : m({ rate: 4, rateSpeechS: 9 }), ms);
    if (ny) got.push({ t: ms, p: ny.participant, kind: ny.kind });
  }
  t.same(got, [
    { t: 0, p: 'x', kind: 'SLOW_DOWN' },
    { t: 10000, p: 'x', kind: 'SLOW_DOWN' },
    { t: 12000, p: 'y', kind: 'SLOW_DOWN' },
    { t: 20000, p: 'x', kind: 'SLOW_DOWN' },
    { t: 22000, p: 'y', kind: 'SLOW_DOWN' },
    { t: 30000, p: 'x', kind: 'SLOW_DOWN' },
  ]);
});

t.test('rate limit spans nudge types; a custom min_interval_s applies', async (t) => {
  const e = new NudgeEngine({ min_interval_s: 5 });
  t.equal(e.evaluate('x', m({ interrupts: 2 }), 1000)?.kind, 'LET_THEM_FINISH');
  t.equal(e.evaluate('x', m({ rate: 7, rateSpeechS: 9 }), 5999), null, 'another type inside the interval is held back');
  t.equal(e.evaluate('x', m({ rate: 7, rateSpeechS: 9 }), 6000)?.kind, 'SLOW_DOWN');
  t.equal(e.evaluate('x', m({}), 20000), null, 'nothing holds: nothing sent');
});

t.test('nudge payload validates against the shared schema', async (t) => {
  const n = new NudgeEngine().evaluate('alice', m({ levelDbfs: -47, levelSpeechS: 6 }), 4250);
  t.ok(n);
  const parsed = NudgeEvent.parse(n);
  t.match(parsed, { type: 'nudge', kind: 'SPEAK_UP', participant: 'alice', intensity: 3, t_ms: 4250, reason: { metric: 'speech_level_dbfs', threshold: -40, window_s: 10 } });
});

t.test('interruptions already answered by LET_THEM_FINISH do not trigger it again', async (t) => {
  const e = new NudgeEngine();
  t.equal(e.evaluate('x', m({ interrupts: 2, interruptsTotal: 2 }), 1000)?.kind, 'LET_THEM_FINISH');
  t.equal(e.evaluate('x', m({ interrupts: 2, interruptsTotal: 2 }), 12000), null, 'same two interruptions, still in the window');
  t.equal(e.evaluate('x', m({ interrupts: 3, interruptsTotal: 3 }), 13000), null, 'one new one is not two');
  t.equal(e.evaluate('x', m({ interrupts: 3, interruptsTotal: 4 }), 14000)?.kind, 'LET_THEM_FINISH', 'two new ones');
});
