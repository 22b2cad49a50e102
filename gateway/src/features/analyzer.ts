/**
 * ConversationAnalyzer: the one object a session holds. See index.ts for how to wire it.
 */
import type { NudgeRules } from '../../../shared/src/token.ts';
import type {
  FeaturesEvent, FeaturesSummary, Interruption, LiveParticipantFeatures, NudgeEvent, NudgeType, ParticipantKind,
  ParticipantSummary,
} from '../../../shared/src/features.ts';
import { NUDGE_TYPES } from '../../../shared/src/features.ts';
import type { FeatureSampleRate } from './decimator.ts';
import { SpeakerAnalyzer, HOP_MS, RING_HOPS, type SpeakerAnalyzerOptions } from './speaker-analyzer.ts';
import { ConversationTracker, TrackedParticipant, WindowStats, HOPS_PER_S } from './conversation.ts';
import { NudgeEngine, SPEAK_UP_WINDOW_S, emptyMeasures, type NudgeMeasures } from './nudges.ts';

export interface ConversationAnalyzerOptions {
  /** rate of the PCM16 frames pushed (20 ms each) */
  sampleRate: FeatureSampleRate;
  /** per-session overrides of the nudge rules (token `agent.nudges`) */
  rules?: NudgeRules;
  /** window of talk_share / overlap_ratio in the live event, seconds (default 30) */
  windowS?: number;
  /** window of rate_syll_per_s in the live event, seconds (default 10) */
  rateWindowS?: number;
  /** detector tuning (tests, harness) */
  speaker?: SpeakerAnalyzerOptions;
}

/**
 * A frame whose tMs is up to this much later than where the participant's timeline has got to is
 * arrival jitter (network bursts), not a gap: it is placed right after the previous frame. Later
 * than that, the hops in between are silence.
 */
const JITTER_HOPS = 8;
/** A participant without frames for this long is taken as silent (agent not talking, muted mic). */
const IDLE_SLACK_HOPS = 30;
const PITCH_MIN_VOICED_HOPS = 10;

function dbfs(meanSquare: number): number {
  return meanSquare > 1e-10 ? 10 * Math.log10(meanSquare) : -100;
}

function round(x: number, digits = 3): number {
  const k = 10 ** digits;
  return Math.round(x * k) / k;
}

export class ConversationAnalyzer {
  /** samples per 20 ms frame at the configured rate */
  readonly frameSamples: number;
  readonly rate: FeatureSampleRate;
  private readonly tracker = new ConversationTracker<SpeakerAnalyzer>();
  private readonly engine: NudgeEngine;
  private readonly windowS: number;
  private readonly rateWindowS: number;
  private readonly speakerOpts: SpeakerAnalyzerOptions;
  private readonly ws = new WindowStats();
  private readonly measures: NudgeMeasures = emptyMeasures();
  private readonly nudgeCounts: Record<NudgeType, number> = { SLOW_DOWN: 0, LET_THEM_FINISH: 0, SPEAK_UP: 0, GIVE_SPACE: 0 };
  private startHop = -1;
  private lastHop = 0;
  private finished = false;

  constructor(opts: ConversationAnalyzerOptions) {
    this.rate = opts.sampleRate;
    this.frameSamples = opts.sampleRate / 50;
    this.engine = new NudgeEngine(opts.rules);
    this.windowS = opts.windowS ?? 30;
    this.rateWindowS = opts.rateWindowS ?? 10;
    this.speakerOpts = opts.speaker ?? {};
  }

  /** Resolved nudge rules in force. */
  get rules(): Readonly<Required<NudgeRules>> {
    return this.engine.rules;
  }

  /** Register a participant; returns the index to push its frames with. */
  addParticipant(id: string, kind: ParticipantKind): number {
    const p = new TrackedParticipant(id, kind, new SpeakerAnalyzer(this.rate, this.speakerOpts));
    return this.tracker.add(p);
  }

  /** Index of a participant id, or -1. */
  indexOf(id: string): number {
    return this.tracker.parts.findIndex((p) => p.id === id && !p.removed);
  }

  /** The participant left: its audio so far still counts, it no longer holds the clock back. */
  removeParticipant(index: number): void {
    const p = this.tracker.parts[index];
    if (!p || p.removed) return;
    if (p.analyzer.started) p.analyzer.flush();
    p.removed = true;
  }

  /**
   * One 20 ms PCM16 frame (`frameSamples` samples) of participant `index`, heard at session time
   * `tMs` (caller: arrival time; agent: playout time). Allocation-free. Returns false (and ignores
   * the frame) for an unknown/removed participant, a wrong frame size, or after summary().
   * The frame is only read during the call.
   */
  pushFrame(index: number, frame: Int16Array, tMs: number): boolean {
    const p = this.tracker.parts[index];
    if (p === undefined || p.removed || this.finished || frame.length !== this.frameSamples) return false;
    const an = p.analyzer;
    const hop = Math.round(tMs / HOP_MS);
    if (!an.started) {
      an.begin(hop);
      if (this.startHop < 0) {
        this.startHop = hop;
        this.tracker.startAt(hop);
      }
    } else {
      const expected = an.nextHop;
      if (hop > expected + JITTER_HOPS) an.pushSilence(hop - expected);
    }
    an.processFrame(frame);
    if (an.nextHop > this.lastHop) this.lastHop = an.nextHop;
    // the rings hold RING_HOPS; without snapshot() calls, keep the cursor from falling behind them
    if (an.nextHop - this.tracker.cursor > RING_HOPS / 2) this.advance(an.nextHop);
    return true;
  }

  /** Transcript text of a participant's utterance (for words per minute). */
  addTranscript(index: number, text: string, startMs: number, endMs: number): void {
    const p = this.tracker.parts[index];
    if (p === undefined || !(endMs >= startMs)) return;
    const words = text.match(/[\p{L}\p{N}']+/gu);
    if (words) p.words += words.length;
  }

  /** Live event payload at session time tMs (call every 250 ms). */
  snapshot(tMs: number): FeaturesEvent {
    this.advance(Math.floor(tMs / HOP_MS));
    const nowHop = Math.floor(tMs / HOP_MS);
    const parts = this.tracker.parts;
    const out: LiveParticipantFeatures[] = [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (p.removed) continue;
      const an = p.analyzer;
      const w = this.tracker.windowStats(i, this.windowS, this.ws);
      const share = w.totalTalkS > 0 ? w.talkS / w.totalTalkS : 0;
      const overlap = w.talkS > 0 ? Math.min(1, w.overlapS / w.talkS) : 0;
      const r = this.tracker.windowStats(i, this.rateWindowS, this.ws);
      out.push({
        participant: p.id,
        kind: p.kind,
        speaking: an.started && an.speaking,
        level_dbfs: round(an.levelDbfs, 1),
        pitch_hz: an.lastF0 > 0 && nowHop - an.lastF0Hop <= 25 ? round(an.lastF0, 1) : null,
        rate_syll_per_s: r.talkS >= 1 ? round(r.syllables / r.talkS, 2) : null,
        talk_share: round(share),
        overlap_ratio: round(overlap),
        talk_time_s: round(p.talkHops / HOPS_PER_S, 2),
        interruptions: p.interruptionsMade,
      });
    }
    return { type: 'features', t_ms: tMs, window_s: this.windowS, rate_window_s: this.rateWindowS, participants: out };
  }

  /** Nudges due at tMs (rules + at most one per min_interval_s per participant); humans only. */
  takeNudges(tMs: number): NudgeEvent[] {
    this.advance(Math.floor(tMs / HOP_MS));
    const parts = this.tracker.parts;
    let present = 0;
    for (const p of parts) if (!p.removed && p.analyzer.started) present++;
    const out: NudgeEvent[] = [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (p.removed || p.kind !== 'human' || !p.analyzer.started) continue;
      const m = this.measuresOf(i, present - 1);
      const n = this.engine.evaluate(p.id, m, tMs);
      if (n) {
        p.nudges++;
        this.nudgeCounts[n.kind]++;
        out.push(n);
      }
    }
    return out;
  }

  /** snapshot() and takeNudges() in one call, for the 250 ms timer. */
  tick(tMs: number): { features: FeaturesEvent; nudges: NudgeEvent[] } {
    return { features: this.snapshot(tMs), nudges: this.takeNudges(tMs) };
  }

  /** The measures the nudge rules see for participant i now (exposed for tests and debugging). */
  measuresOf(i: number, others: number): NudgeMeasures {
    const r = this.engine.rules;
    const m = this.measures;
    const t = this.tracker;
    const ws = this.ws;
    t.windowStats(i, r.slow_down_hold_s, ws);
    m.rate = ws.talkS > 0 ? ws.syllables / ws.talkS : null;
    m.rateSpeechS = ws.talkS;
    t.windowStats(i, SPEAK_UP_WINDOW_S, ws);
    m.levelDbfs = ws.talkS > 0 ? dbfs(ws.speechEnergy) : null;
    m.levelSpeechS = ws.talkS;
    t.windowStats(i, r.interrupt_window_s, ws);
    m.interrupts = ws.interrupts;
    m.interruptsTotal = t.parts[i].interruptionsMade;
    m.overlapRatio = ws.talkS > 0 ? ws.overlapS / ws.talkS : 0;
    m.overlapTalkS = ws.talkS;
    t.windowStats(i, r.give_space_window_s, ws);
    m.share = ws.totalTalkS > 0 ? ws.talkS / ws.totalTalkS : 0;
    m.shareTotalS = ws.totalTalkS;
    m.others = others;
    return m;
  }

  /**
   * Whole-session measures. Finalises every participant (the analyzer takes no frames afterwards);
   * `endMs`, when given, extends the session to that time with silence.
   */
  summary(endMs?: number): FeaturesSummary {
    this.finish(endMs);
    const t = this.tracker;
    const parts = t.parts;
    let totalTalk = 0;
    for (const p of parts) totalTalk += p.talkHops;
    const participants: ParticipantSummary[] = parts.map((p, i) => {
      const talkS = p.talkHops / HOPS_PER_S;
      let pitch: ParticipantSummary['pitch'] = null;
      if (p.voicedHops >= PITCH_MIN_VOICED_HOPS) {
        const p10 = t.pitchPercentile(i, 0.1);
        const p90 = t.pitchPercentile(i, 0.9);
        pitch = {
          median_hz: round(t.pitchPercentile(i, 0.5), 1),
          p10_hz: round(p10, 1),
          p90_hz: round(p90, 1),
          range_semitones: round(12 * Math.log2(p90 / p10), 2),
          voiced_s: round(p.voicedHops / HOPS_PER_S, 2),
        };
      }
      return {
        participant: p.id,
        kind: p.kind,
        talk_time_s: round(talkS, 2),
        talk_share: totalTalk > 0 ? round(p.talkHops / totalTalk) : 0,
        turns: p.turns,
        mean_turn_s: p.turns > 0 ? round(talkS / p.turns, 2) : 0,
        overlap_s: round(p.overlapHops / HOPS_PER_S, 2),
        overlap_ratio: p.talkHops > 0 ? round(p.overlapHops / p.talkHops) : 0,
        interruptions_made: p.interruptionsMade,
        interrupted_by_others: p.interruptedByOthers,
        syllables: p.syllables,
        speaking_rate_syll_per_s: talkS >= 1 ? round(p.syllables / talkS, 2) : null,
        words: p.words,
        words_per_minute: p.words > 0 && talkS >= 1 ? round(p.words / (talkS / 60), 1) : null,
        pitch,
        speech_level_dbfs: p.talkHops > 0 ? round(dbfs(p.speechEnergy / p.talkHops), 1) : null,
        nudges: p.nudges,
      };
    });
    const interruptions: Interruption[] = [];
    const n = Math.min(t.interruptionCount, t.intBy.length);
    for (let k = 0; k < n; k++) {
      interruptions.push({ by: parts[t.intBy[k]].id, of: parts[t.intOf[k]].id, t_ms: Math.max(0, (t.intHop[k] - Math.max(0, this.startHop)) * HOP_MS) });
    }
    const gaps = Array.from(t.gaps.subarray(0, t.gapCount)).sort((a, b) => a - b);
    const mean = gaps.length > 0 ? gaps.reduce((a, b) => a + b, 0) / gaps.length : null;
    const median = gaps.length === 0 ? null : gaps.length % 2 === 1 ? gaps[(gaps.length - 1) / 2] : 0.5 * (gaps[gaps.length / 2 - 1] + gaps[gaps.length / 2]);
    const nudges = {} as Record<NudgeType, number>;
    for (const k of NUDGE_TYPES) nudges[k] = this.nudgeCounts[k];
    return {
      version: 1,
      duration_s: round(this.startHop >= 0 ? (t.cursor - this.startHop) / HOPS_PER_S : 0, 2),
      silence_s: round(t.silenceHops / HOPS_PER_S, 2),
      overlap_s: round(t.overlapHops / HOPS_PER_S, 2),
      overlap_ratio: t.anyHops > 0 ? round(t.overlapHops / t.anyHops) : 0,
      interruptions,
      response_gaps: { count: gaps.length, mean_ms: mean === null ? null : round(mean, 0), median_ms: median === null ? null : round(median, 0) },
      participants,
      nudges,
    };
  }

  /** Session time (ms) up to which participant `index` has final speech decisions. */
  finalUntilMs(index: number): number {
    const a = this.tracker.parts[index]?.analyzer;
    return a && a.started ? a.finalUpTo * HOP_MS : 0;
  }

  /**
   * Final speech decision of participant `index` at session time tMs (tests, harness); only the last
   * ~40 s before finalUntilMs() are kept.
   */
  speechAt(index: number, tMs: number): boolean {
    return this.tracker.parts[index]?.speechAt(Math.floor(tMs / HOP_MS)) === 1;
  }

  private finish(endMs?: number): void {
    if (this.finished) return;
    this.finished = true;
    let end = this.lastHop;
    if (endMs !== undefined) end = Math.max(end, Math.floor(endMs / HOP_MS));
    for (const p of this.tracker.parts) {
      const an = p.analyzer;
      if (p.removed || !an.started) continue;
      if (an.nextHop < end) an.pushSilence(end - an.nextHop);
      an.flush();
    }
    this.tracker.advanceTo(end);
  }

  /** Mark idle participants silent up to nowHop - slack, then consume every hop all have finalised. */
  private advance(nowHop: number): void {
    if (this.startHop < 0 || this.finished) return;
    const parts = this.tracker.parts;
    let target = Infinity;
    let anyLive = false;
    // indexed loops: this also runs from pushFrame (allocation-free path)
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      const an = p.analyzer;
      if (p.removed || !an.started) continue;
      anyLive = true;
      const idleUntil = nowHop - IDLE_SLACK_HOPS;
      if (an.nextHop < idleUntil) an.pushSilence(idleUntil - an.nextHop);
      if (an.finalUpTo < target) target = an.finalUpTo;
    }
    if (!anyLive) {
      for (let i = 0; i < parts.length; i++) {
        const f = parts[i].analyzer.finalUpTo;
        if (f > (target === Infinity ? 0 : target)) target = f;
      }
    }
    if (target !== Infinity && target > this.tracker.cursor) this.tracker.advanceTo(target);
  }
}
