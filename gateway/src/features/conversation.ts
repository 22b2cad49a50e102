/**
 * Conversation measures over the participants' final speech timelines: talk time, silence, overlap,
 * interruptions (who started talking over whom, with both talking for >= 200 ms), turns and response
 * gaps, plus per-second buckets for the sliding windows the live event and the nudge rules read.
 *
 * The tracker walks a cursor over session hops (10 ms). A hop is consumed once every live
 * participant has a final decision for it (see ConversationAnalyzer for how idle participants are
 * advanced), so all participants are compared on the same session clock even when their frames
 * arrive at slightly different times. Allocation-free: results go to preallocated typed arrays.
 */
import { RING_MASK } from './speaker-analyzer.ts';
import type { ParticipantKind } from '../../../shared/src/features.ts';

export const HOPS_PER_S = 100;
/** overlap needed before a start-over counts as an interruption */
export const INTERRUPT_MIN_HOPS = 20;
const BUCKETS = 256; // per-second buckets: sliding windows up to ~4 minutes
const BUCKET_MASK = BUCKETS - 1;
const MAX_INTERRUPTIONS = 4096;
const MAX_GAPS = 4096;
/** a silence longer than this between turns is not a response gap but a lull */
const MAX_GAP_HOPS = 1000;
// pitch histogram: quarter-semitone bins from 50 Hz
const PITCH_BIN_MIN_HZ = 50;
export const PITCH_BINS = 4 * 12 * 4; // four octaves: 50-800 Hz

/**
 * What the tracker reads of a participant: per-hop rings (RING_HOPS long, indexed by hop & RING_MASK)
 * with final decisions for hops in [firstHop, finalUpTo). SpeakerAnalyzer implements it; tests can
 * script one.
 */
export interface SpeechTimeline {
  readonly started: boolean;
  readonly firstHop: number;
  readonly finalUpTo: number;
  /** final speech decision per hop */
  readonly speech: Uint8Array;
  /** mean square per hop */
  readonly energy: Float32Array;
  /** F0 per hop (0: unvoiced) */
  readonly pitch: Float32Array;
  /** syllable nuclei per hop */
  readonly syll: Uint8Array;
}

export class TrackedParticipant<T extends SpeechTimeline = SpeechTimeline> {
  active = false;
  onsetHop = -1;
  removed = false;
  talkHops = 0;
  overlapHops = 0;
  turns = 0;
  syllables = 0;
  speechEnergy = 0;
  voicedHops = 0;
  interruptionsMade = 0;
  interruptedByOthers = 0;
  words = 0;
  nudges = 0;
  pendVictim = -1;
  pendStart = 0;
  readonly pitchHist = new Uint32Array(PITCH_BINS);
  readonly bTalk = new Uint16Array(BUCKETS);
  readonly bOverlap = new Uint16Array(BUCKETS);
  readonly bSyll = new Uint16Array(BUCKETS);
  readonly bEnergy = new Float64Array(BUCKETS);
  readonly bInterrupts = new Uint16Array(BUCKETS);

  constructor(
    readonly id: string,
    readonly kind: ParticipantKind,
    readonly analyzer: T,
  ) {}

  /** Final decision at hop h (0 outside what this participant has produced). */
  speechAt(h: number): number {
    const a = this.analyzer;
    if (!a.started || h < a.firstHop || h >= a.finalUpTo || a.finalUpTo - h > RING_MASK) return 0;
    return a.speech[h & RING_MASK];
  }
}

/** Window sums for one participant (filled by windowStats). */
export class WindowStats {
  talkS = 0;
  overlapS = 0;
  syllables = 0;
  /** mean power of speaking hops, linear */
  speechEnergy = 0;
  interrupts = 0;
  /** all participants' talk in the window */
  totalTalkS = 0;
}

export class ConversationTracker<T extends SpeechTimeline = SpeechTimeline> {
  readonly parts: TrackedParticipant<T>[] = [];
  /** next hop to consume */
  cursor = 0;
  silenceHops = 0;
  overlapHops = 0;
  anyHops = 0;
  readonly intBy = new Int32Array(MAX_INTERRUPTIONS);
  readonly intOf = new Int32Array(MAX_INTERRUPTIONS);
  readonly intHop = new Float64Array(MAX_INTERRUPTIONS);
  interruptionCount = 0;
  readonly gaps = new Float64Array(MAX_GAPS);
  gapCount = 0;
  private lastOffsetHop = -1;
  private lastOffsetSpeaker = -1;
  private curBucket = -1;
  private now = new Uint8Array(16);
  private started = false;

  add(p: TrackedParticipant<T>): number {
    this.parts.push(p);
    if (this.now.length < this.parts.length) this.now = new Uint8Array(this.parts.length * 2);
    return this.parts.length - 1;
  }

  /** Start the session clock at `hop` (first frame of the session). */
  startAt(hop: number): void {
    if (this.started) return;
    this.started = true;
    this.cursor = hop;
  }

  /** Consume hops up to (excluding) `toHop`. */
  advanceTo(toHop: number): void {
    if (!this.started) return;
    const parts = this.parts;
    const n = parts.length;
    const now = this.now;
    for (let h = this.cursor; h < toHop; h++) {
      const bucket = Math.floor(h / HOPS_PER_S);
      if (bucket !== this.curBucket) this.enterBucket(bucket);
      const bi = bucket & BUCKET_MASK;
      let count = 0;
      for (let i = 0; i < n; i++) {
        const v = parts[i].speechAt(h);
        now[i] = v;
        count += v;
      }
      if (count === 0) this.silenceHops++;
      else this.anyHops++;
      if (count >= 2) this.overlapHops++;
      for (let i = 0; i < n; i++) {
        const p = parts[i];
        const a = p.analyzer;
        const r = h & RING_MASK;
        if (a.started && h >= a.firstHop && h < a.finalUpTo) {
          const s = a.syll[r];
          if (s > 0) {
            p.syllables += s;
            p.bSyll[bi] += s;
          }
        }
        if (now[i] === 1) {
          p.talkHops++;
          p.bTalk[bi]++;
          const e = a.energy[r];
          p.speechEnergy += e;
          p.bEnergy[bi] += e;
          const f0 = a.pitch[r];
          if (f0 > 0) {
            p.voicedHops++;
            const bin = Math.floor(48 * Math.log2(f0 / PITCH_BIN_MIN_HZ));
            if (bin >= 0 && bin < PITCH_BINS) p.pitchHist[bin]++;
          }
          if (count >= 2) {
            p.overlapHops++;
            p.bOverlap[bi]++;
          }
          if (!p.active) this.onset(i, h, count);
        } else if (p.active) {
          p.active = false;
          if (count === 0) {
            this.lastOffsetHop = h;
            this.lastOffsetSpeaker = i;
          }
        }
        // a pending start-over becomes an interruption after 200 ms of both talking
        if (p.pendVictim >= 0) {
          if (now[i] === 1 && now[p.pendVictim] === 1) {
            if (h - p.pendStart + 1 >= INTERRUPT_MIN_HOPS) {
              this.recordInterruption(i, p.pendVictim, p.pendStart, bi);
              p.pendVictim = -1;
            }
          } else p.pendVictim = -1;
        }
      }
    }
    if (toHop > this.cursor) this.cursor = toHop;
  }

  private onset(i: number, h: number, count: number): void {
    const parts = this.parts;
    const p = parts[i];
    p.active = true;
    p.onsetHop = h;
    p.turns++;
    if (count === 1) {
      // a response gap: someone else's turn ended in silence and this one starts
      if (this.lastOffsetSpeaker >= 0 && this.lastOffsetSpeaker !== i) {
        const gap = h - this.lastOffsetHop;
        if (gap <= MAX_GAP_HOPS && this.gapCount < MAX_GAPS) this.gaps[this.gapCount++] = gap * 10;
      }
      this.lastOffsetSpeaker = -1;
      return;
    }
    // started while others talk: the victim is whoever has talked longest (started first)
    let victim = -1;
    let earliest = Infinity;
    for (let j = 0; j < parts.length; j++) {
      if (j === i) continue;
      const q = parts[j];
      if (q.active && q.onsetHop < h && q.onsetHop < earliest) {
        earliest = q.onsetHop;
        victim = j;
      }
    }
    if (victim >= 0) {
      p.pendVictim = victim;
      p.pendStart = h;
    }
    this.lastOffsetSpeaker = -1;
  }

  private recordInterruption(by: number, of: number, startHop: number, bi: number): void {
    const parts = this.parts;
    parts[by].interruptionsMade++;
    parts[by].bInterrupts[bi]++;
    parts[of].interruptedByOthers++;
    const k = this.interruptionCount++;
    if (k < MAX_INTERRUPTIONS) {
      this.intBy[k] = by;
      this.intOf[k] = of;
      this.intHop[k] = startHop;
    }
  }

  private enterBucket(bucket: number): void {
    const from = this.curBucket < 0 || bucket - this.curBucket > BUCKETS ? bucket - BUCKETS + 1 : this.curBucket + 1;
    for (let b = from; b <= bucket; b++) {
      const bi = b & BUCKET_MASK;
      for (let i = 0; i < this.parts.length; i++) {
        const p = this.parts[i];
        p.bTalk[bi] = 0;
        p.bOverlap[bi] = 0;
        p.bSyll[bi] = 0;
        p.bEnergy[bi] = 0;
        p.bInterrupts[bi] = 0;
      }
    }
    this.curBucket = bucket;
  }

  /** Sums over the last `seconds` (whole buckets up to the cursor) for participant i. */
  windowStats(i: number, seconds: number, out: WindowStats): WindowStats {
    out.talkS = 0;
    out.overlapS = 0;
    out.syllables = 0;
    out.speechEnergy = 0;
    out.interrupts = 0;
    out.totalTalkS = 0;
    if (this.curBucket < 0) return out;
    const w = Math.min(Math.max(1, Math.round(seconds)), BUCKETS - 1);
    const first = Math.max(0, this.curBucket - w + 1);
    let talk = 0;
    let total = 0;
    let energy = 0;
    const p = this.parts[i];
    for (let b = first; b <= this.curBucket; b++) {
      const bi = b & BUCKET_MASK;
      talk += p.bTalk[bi];
      out.overlapS += p.bOverlap[bi];
      out.syllables += p.bSyll[bi];
      energy += p.bEnergy[bi];
      out.interrupts += p.bInterrupts[bi];
      for (let j = 0; j < this.parts.length; j++) total += this.parts[j].bTalk[bi];
    }
    out.talkS = talk / HOPS_PER_S;
    out.overlapS /= HOPS_PER_S;
    out.totalTalkS = total / HOPS_PER_S;
    out.speechEnergy = talk > 0 ? energy / talk : 0;
    return out;
  }

  /** Pitch percentile (0..1) of participant i from the histogram; 0 without voiced hops. */
  pitchPercentile(i: number, q: number): number {
    const p = this.parts[i];
    if (p.voicedHops === 0) return 0;
    const target = q * p.voicedHops;
    let acc = 0;
    for (let b = 0; b < PITCH_BINS; b++) {
      acc += p.pitchHist[b];
      if (acc >= target) return PITCH_BIN_MIN_HZ * 2 ** ((b + 0.5) / 48);
    }
    return PITCH_BIN_MIN_HZ * 2 ** (PITCH_BINS / 48);
  }
}
