/**
 * Speaker-feature payloads (features issue): the live `features` event (every 250 ms), the `nudge`
 * event, and the whole-session summary the control plane stores in the session report (it arrives in
 * the `features.summary` bus event). Produced by `gateway/src/features` (ConversationAnalyzer).
 *
 * Both live payloads carry `type` so the gateway sends them to native clients as they are; the native
 * protocol (`shared/src/protocol/native.ts`) uses these same schemas.
 */
import { z } from 'zod';

export const NUDGE_TYPES = ['SLOW_DOWN', 'LET_THEM_FINISH', 'SPEAK_UP', 'GIVE_SPACE'] as const;
export const NudgeType = z.enum(NUDGE_TYPES);
export type NudgeType = z.infer<typeof NudgeType>;

export const ParticipantKind = z.enum(['human', 'agent']);
export type ParticipantKind = z.infer<typeof ParticipantKind>;

/** One participant in a live `features` event. Window measures cover the last `window_s` seconds. */
export const LiveParticipantFeatures = z.object({
  participant: z.string(),
  kind: ParticipantKind,
  /** voice activity right now (causal decision with onset/hangover smoothing) */
  speaking: z.boolean(),
  /** short-term level of the last 20 ms frame, dBFS (RMS re full scale); -100 for silence */
  level_dbfs: z.number(),
  /** F0 of the last voiced frame within the last 250 ms, Hz */
  pitch_hz: z.number().nullable(),
  /** syllables per second of speaking time over the last `rate_window_s`; null with too little speech */
  rate_syll_per_s: z.number().nullable(),
  /** this participant's share of all talk time in the window, 0..1 */
  talk_share: z.number().min(0).max(1),
  /** time this participant talked while someone else talked / own talk time, in the window, 0..1 */
  overlap_ratio: z.number().min(0).max(1),
  /** whole-session talk time so far, seconds */
  talk_time_s: z.number().nonnegative(),
  /** interruptions made by this participant so far */
  interruptions: z.number().int().nonnegative(),
});
export type LiveParticipantFeatures = z.infer<typeof LiveParticipantFeatures>;

export const FeaturesEvent = z.object({
  type: z.literal('features'),
  /** session-relative time of the snapshot, ms */
  t_ms: z.number(),
  /** window of talk_share / overlap_ratio, seconds */
  window_s: z.number().positive(),
  /** window of rate_syll_per_s, seconds */
  rate_window_s: z.number().positive(),
  participants: z.array(LiveParticipantFeatures),
});
export type FeaturesEvent = z.infer<typeof FeaturesEvent>;

export const NudgeEvent = z.object({
  type: z.literal('nudge'),
  /** the nudge type (named `kind` to match the native protocol's nudge event) */
  kind: NudgeType,
  /** who the nudge is for */
  participant: z.string(),
  /** 1 (gentle) .. 3 (strong): how far past the threshold the measure is */
  intensity: z.number().int().min(1).max(3),
  message: z.string(),
  t_ms: z.number(),
  /** the measure that triggered it */
  reason: z.object({ metric: z.string(), value: z.number(), threshold: z.number(), window_s: z.number() }),
});
export type NudgeEvent = z.infer<typeof NudgeEvent>;

export const PitchSummary = z.object({
  median_hz: z.number().positive(),
  /** 10th and 90th percentiles of voiced-frame F0 */
  p10_hz: z.number().positive(),
  p90_hz: z.number().positive(),
  /** p90 / p10 in semitones */
  range_semitones: z.number().nonnegative(),
  voiced_s: z.number().nonnegative(),
});
export type PitchSummary = z.infer<typeof PitchSummary>;

export const ParticipantSummary = z.object({
  participant: z.string(),
  kind: ParticipantKind,
  talk_time_s: z.number().nonnegative(),
  /** share of all participants' talk time, 0..1 */
  talk_share: z.number().min(0).max(1),
  turns: z.number().int().nonnegative(),
  mean_turn_s: z.number().nonnegative(),
  /** time talking while someone else talked, seconds */
  overlap_s: z.number().nonnegative(),
  overlap_ratio: z.number().min(0).max(1),
  interruptions_made: z.number().int().nonnegative(),
  interrupted_by_others: z.number().int().nonnegative(),
  /** syllable nuclei detected in the audio */
  syllables: z.number().int().nonnegative(),
  /** syllables per second of speaking time; null with under 1 s of speech */
  speaking_rate_syll_per_s: z.number().nonnegative().nullable(),
  /** from transcripts when the session had them */
  words: z.number().int().nonnegative(),
  words_per_minute: z.number().nonnegative().nullable(),
  pitch: PitchSummary.nullable(),
  /** mean power of speaking frames, dBFS; null without speech */
  speech_level_dbfs: z.number().nullable(),
  nudges: z.number().int().nonnegative(),
});
export type ParticipantSummary = z.infer<typeof ParticipantSummary>;

export const Interruption = z.object({
  /** participant who started talking over another */
  by: z.string(),
  /** participant who was talking */
  of: z.string(),
  /** session-relative start of the overlap, ms */
  t_ms: z.number().nonnegative(),
});
export type Interruption = z.infer<typeof Interruption>;

export const FeaturesSummary = z.object({
  version: z.literal(1),
  duration_s: z.number().nonnegative(),
  /** nobody talking, seconds */
  silence_s: z.number().nonnegative(),
  /** two or more talking, seconds */
  overlap_s: z.number().nonnegative(),
  /** overlap time / time anyone talked */
  overlap_ratio: z.number().min(0).max(1),
  interruptions: z.array(Interruption),
  /** silences between one participant's turn end and another's turn start */
  response_gaps: z.object({
    count: z.number().int().nonnegative(),
    mean_ms: z.number().nonnegative().nullable(),
    median_ms: z.number().nonnegative().nullable(),
  }),
  participants: z.array(ParticipantSummary),
  nudges: z.record(NudgeType, z.number().int().nonnegative()),
});
export type FeaturesSummary = z.infer<typeof FeaturesSummary>;
