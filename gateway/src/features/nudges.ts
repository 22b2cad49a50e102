/**
 * Nudge rules (defaults from the coaching app, overridable per session through the token's
 * `agent.nudges`, see NudgeRules in shared/src/token.ts) and the per-participant rate limit.
 *
 * - SLOW_DOWN: over the last `slow_down_hold_s`, spoke at least half of the time, at more than
 *   `slow_down_syll_per_s` syllables per second of speaking time.
 * - LET_THEM_FINISH: `interrupts_in_window` interruptions made within `interrupt_window_s`, or (having
 *   interrupted at least once there) own overlap ratio above `overlap_ratio_max` over that window.
 * - SPEAK_UP: over the last SPEAK_UP_WINDOW_S, spoke at least SPEAK_UP_MIN_SPEECH_S and the mean level
 *   of that speech is below `speak_up_dbfs`.
 * - GIVE_SPACE: more than `give_space_share` of all talk time over `give_space_window_s`, with at
 *   least a quarter of that window talked by someone (and someone else present).
 * At most one nudge per `min_interval_s` per participant; when several rules hold, the first in the
 * order above wins. Interruptions answered by a LET_THEM_FINISH are not counted again. Intensity 1..3 grows with how far past the threshold the measure is.
 */
import type { NudgeRules } from '../../../shared/src/token.ts';
import type { NudgeEvent, NudgeType } from '../../../shared/src/features.ts';

export type ResolvedNudgeRules = Required<NudgeRules>;

export const DEFAULT_NUDGE_RULES: Readonly<ResolvedNudgeRules> = Object.freeze({
  enabled: true,
  min_interval_s: 10,
  slow_down_syll_per_s: 5.5,
  slow_down_hold_s: 10,
  interrupts_in_window: 2,
  interrupt_window_s: 30,
  overlap_ratio_max: 0.3,
  speak_up_dbfs: -40,
  give_space_share: 0.7,
  give_space_window_s: 120,
});

export const SPEAK_UP_WINDOW_S = 10;
export const SPEAK_UP_MIN_SPEECH_S = 3;
/** own talk time in the interrupt window before the overlap ratio is trusted */
const OVERLAP_MIN_TALK_S = 3;

const MESSAGES: Record<NudgeType, string> = {
  SLOW_DOWN: 'Try slowing down.',
  LET_THEM_FINISH: 'Let them finish.',
  SPEAK_UP: 'Try speaking up a little.',
  GIVE_SPACE: 'Give them some space to talk.',
};

/** What the rules read for one participant at one moment (windows as named in the rules). */
export interface NudgeMeasures {
  /** syllables/s of speaking time over slow_down_hold_s (null: no speech) */
  rate: number | null;
  /** speaking time within slow_down_hold_s */
  rateSpeechS: number;
  /** mean speech level over SPEAK_UP_WINDOW_S, dBFS (null: no speech) */
  levelDbfs: number | null;
  /** speaking time within SPEAK_UP_WINDOW_S */
  levelSpeechS: number;
  /** interruptions made within interrupt_window_s */
  interrupts: number;
  /** interruptions made in the whole session so far */
  interruptsTotal: number;
  /** overlap time / own talk time within interrupt_window_s */
  overlapRatio: number;
  /** own talk time within interrupt_window_s */
  overlapTalkS: number;
  /** own share of all talk within give_space_window_s */
  share: number;
  /** everyone's talk within give_space_window_s */
  shareTotalS: number;
  /** other participants in the session */
  others: number;
}

export function emptyMeasures(): NudgeMeasures {
  return { rate: null, rateSpeechS: 0, levelDbfs: null, levelSpeechS: 0, interrupts: 0, interruptsTotal: 0, overlapRatio: 0, overlapTalkS: 0, share: 0, shareTotalS: 0, others: 0 };
}

export interface NudgeDecision {
  kind: NudgeType;
  intensity: 1 | 2 | 3;
  metric: string;
  value: number;
  threshold: number;
  window_s: number;
}

function grade(x: number, step1: number, step2: number): 1 | 2 | 3 {
  return x < step1 ? 1 : x < step2 ? 2 : 3;
}

export function resolveNudgeRules(rules?: NudgeRules): ResolvedNudgeRules {
  return { ...DEFAULT_NUDGE_RULES, ...(rules ?? {}) };
}

/** The rules without the rate limit (pure). */
export function checkNudge(r: ResolvedNudgeRules, m: NudgeMeasures): NudgeDecision | null {
  if (!r.enabled) return null;
  if (m.interrupts >= r.interrupts_in_window) {
    return { kind: 'LET_THEM_FINISH', intensity: grade(m.interrupts - r.interrupts_in_window, 1, 2), metric: 'interruptions', value: m.interrupts, threshold: r.interrupts_in_window, window_s: r.interrupt_window_s };
  }
  if (m.interrupts >= 1 && m.overlapTalkS >= OVERLAP_MIN_TALK_S && m.overlapRatio > r.overlap_ratio_max) {
    return { kind: 'LET_THEM_FINISH', intensity: grade(m.overlapRatio / r.overlap_ratio_max, 1.5, 2), metric: 'overlap_ratio', value: m.overlapRatio, threshold: r.overlap_ratio_max, window_s: r.interrupt_window_s };
  }
  if (m.rate !== null && m.rateSpeechS >= 0.5 * r.slow_down_hold_s && m.rate > r.slow_down_syll_per_s) {
    return { kind: 'SLOW_DOWN', intensity: grade(m.rate / r.slow_down_syll_per_s, 1.15, 1.3), metric: 'rate_syll_per_s', value: m.rate, threshold: r.slow_down_syll_per_s, window_s: r.slow_down_hold_s };
  }
  if (m.levelDbfs !== null && m.levelSpeechS >= SPEAK_UP_MIN_SPEECH_S && m.levelDbfs < r.speak_up_dbfs) {
    return { kind: 'SPEAK_UP', intensity: grade(r.speak_up_dbfs - m.levelDbfs, 3, 6), metric: 'speech_level_dbfs', value: m.levelDbfs, threshold: r.speak_up_dbfs, window_s: SPEAK_UP_WINDOW_S };
  }
  if (m.others >= 1 && m.shareTotalS >= 0.25 * r.give_space_window_s && m.share > r.give_space_share) {
    return { kind: 'GIVE_SPACE', intensity: grade(m.share, 0.8, 0.9), metric: 'talk_share', value: m.share, threshold: r.give_space_share, window_s: r.give_space_window_s };
  }
  return null;
}

/** Rules plus the per-participant rate limit. */
export class NudgeEngine {
  readonly rules: ResolvedNudgeRules;
  private readonly last = new Map<string, number>();
  /** session interruption count at each participant's last LET_THEM_FINISH */
  private readonly acked = new Map<string, number>();

  constructor(rules?: NudgeRules) {
    this.rules = resolveNudgeRules(rules);
  }

  /** The nudge due for `participant` at `tMs`, or null (rate-limited or no rule holds). */
  evaluate(participant: string, m: NudgeMeasures, tMs: number): NudgeEvent | null {
    const prev = this.last.get(participant);
    if (prev !== undefined && tMs - prev < this.rules.min_interval_s * 1000) return null;
    // interruptions already answered by a LET_THEM_FINISH do not count again
    const acked = this.acked.get(participant);
    const saved = m.interrupts;
    if (acked !== undefined) m.interrupts = Math.max(0, Math.min(m.interrupts, m.interruptsTotal - acked));
    const d = checkNudge(this.rules, m);
    m.interrupts = saved;
    if (!d) return null;
    this.last.set(participant, tMs);
    if (d.kind === 'LET_THEM_FINISH') this.acked.set(participant, m.interruptsTotal);
    return {
      type: 'nudge',
      kind: d.kind,
      participant,
      intensity: d.intensity,
      message: MESSAGES[d.kind],
      t_ms: tMs,
      reason: { metric: d.metric, value: d.value, threshold: d.threshold, window_s: d.window_s },
    };
  }
}
