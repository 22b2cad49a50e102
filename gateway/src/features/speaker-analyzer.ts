/**
 * Per-participant frame pipeline: 20 ms PCM16 frame -> 8 kHz (and 4 kHz) -> level, band energies,
 * YIN pitch, VAD, syllable nuclei -> per-10 ms-hop rings the conversation tracker reads.
 *
 * Hops are numbered on the session clock (hop = 10 ms of session time); the rings hold the last
 * RING_HOPS hops. Final speech decisions lag the newest hop by SEG_DELAY_HOPS (see segmenter.ts);
 * level, pitch and syllable marks are written when measured. Nothing here allocates after the
 * constructor.
 */
import { Decimator, HalfDecimator, type FeatureSampleRate } from './decimator.ts';
import { BandFilterBank } from './band-filters.ts';
import { YinPitch } from './pitch.ts';
import { VoiceActivityDetector, FLOOR_TRACKS, type VadParams } from './vad.ts';
import { Segmenter, SEG_DELAY_HOPS } from './segmenter.ts';
import { SyllableDetector, type SyllableParams } from './syllables.ts';

export const HOP_MS = 10;
export const RING_HOPS = 4096; // 40.96 s of history per participant
export const RING_MASK = RING_HOPS - 1;

export interface SpeakerAnalyzerOptions {
  vad?: Partial<VadParams>;
  syllables?: Partial<SyllableParams>;
}

export class SpeakerAnalyzer {
  readonly frameSamples: number;
  /** final speech decision per hop (valid for hops < finalUpTo) */
  readonly speech = new Uint8Array(RING_HOPS);
  /** mean square (full scale 1) per hop */
  readonly energy = new Float32Array(RING_HOPS);
  /** F0 per hop, Hz; 0 when unvoiced or not measured */
  readonly pitch = new Float32Array(RING_HOPS);
  /** syllable nuclei counted at a hop */
  readonly syll = new Uint8Array(RING_HOPS);
  /** causal VAD decision per hop (the live `speaking` flag) */
  readonly live = new Uint8Array(RING_HOPS);

  /** level of the last frame, dBFS */
  levelDbfs = -100;
  /** last voiced F0 and the hop it was measured at */
  lastF0 = 0;
  lastF0Hop = -1e9;

  readonly vad: VoiceActivityDetector;
  private readonly syllables: SyllableDetector;
  private readonly decimator: Decimator;
  private readonly half: HalfDecimator;
  private readonly bank = new BandFilterBank();
  private readonly yin = new YinPitch();
  private readonly seg: Segmenter;
  private readonly x8: Float64Array;
  private readonly x4: Float64Array;
  private readonly bands = new Float64Array(FLOOR_TRACKS);
  private readonly hopIn: number;
  private readonly hop8: number;
  private startHop = -1;
  private lastSample = 0;
  private readonly hasHighBand: boolean;

  constructor(readonly rate: FeatureSampleRate, opts: SpeakerAnalyzerOptions = {}) {
    this.decimator = new Decimator(rate);
    this.frameSamples = this.decimator.inLength;
    this.hopIn = this.frameSamples >> 1;
    this.x8 = new Float64Array(this.decimator.outLength);
    this.x4 = new Float64Array(this.decimator.outLength >> 1);
    this.hop8 = this.decimator.outLength >> 1;
    this.half = new HalfDecimator(this.decimator.outLength);
    this.hasHighBand = rate > 8000;
    this.vad = new VoiceActivityDetector(opts.vad);
    this.syllables = new SyllableDetector(opts.syllables);
    this.seg = new Segmenter(new Uint8Array(RING_HOPS), new Uint8Array(RING_HOPS), this.speech);
  }

  /** Whether any frame was pushed. */
  get started(): boolean {
    return this.startHop >= 0;
  }
  /** First hop of this participant on the session clock. */
  get firstHop(): number {
    return this.startHop;
  }
  /** Hop the next frame will start at. */
  get nextHop(): number {
    return this.seg.nextHop;
  }
  /** Hops before this one have a final speech decision. */
  get finalUpTo(): number {
    return this.seg.finalUpTo;
  }
  /** Causal smoothed decision of the newest hop. */
  get speaking(): boolean {
    return this.vad.speaking;
  }

  /** Place the first frame at session hop `hop` (called once, before the first frame). */
  begin(hop: number): void {
    if (this.startHop >= 0) return;
    this.startHop = hop;
    this.seg.startAt(hop);
  }

  /** Hops with no audio (participant muted, agent not talking): silence, no DSP. */
  pushSilence(hops: number): void {
    for (let i = 0; i < hops; i++) {
      const h = this.seg.nextHop & RING_MASK;
      this.energy[h] = 0;
      this.pitch[h] = 0;
      this.syll[h] = 0;
      this.live[h] = 0;
      this.seg.push(false);
    }
    if (hops > 0) this.vad.silence();
    if (hops > 0) this.levelDbfs = -100;
  }

  /** Push enough silence that every hop pushed so far is final. */
  flush(): void {
    this.pushSilence(SEG_DELAY_HOPS + 1);
  }

  /** One 20 ms frame (`frameSamples` samples) = the next two hops. */
  processFrame(frame: Int16Array): void {
    const x8 = this.x8;
    this.decimator.process(frame, x8);
    this.half.process(x8, this.x4);
    this.yin.push(x8, this.x4);
    const vad = this.vad;
    const bands = this.bands;
    const hopIn = this.hopIn;
    let frameEnergy = 0;
    let aper = 1;
    let f0 = 0;
    for (let k = 0; k < 2; k++) {
      // hopIn is even for every supported rate; two accumulators halve the add-chain latency
      let acc0 = 0;
      let acc1 = 0;
      let dif = 0;
      const from = k * hopIn;
      let prev = this.lastSample;
      for (let i = from; i < from + hopIn; i += 2) {
        const s0 = frame[i];
        const s1 = frame[i + 1];
        acc0 += s0 * s0;
        acc1 += s1 * s1;
        const d0 = s0 - prev;
        const d1 = s1 - s0;
        dif += d0 * d0 + d1 * d1;
        prev = s1;
      }
      this.lastSample = prev;
      const acc = acc0 + acc1;
      const ms = acc / (hopIn * 1073741824);
      frameEnergy += 0.5 * ms;
      this.bank.processHop(x8, k * this.hop8, this.hop8);
      const e = this.bank.energy;
      bands[0] = e[0];
      bands[1] = e[1];
      bands[2] = e[2];
      bands[3] = this.hasHighBand ? dif / (hopIn * 1073741824) : 0;
      bands[4] = ms;
      const levelDb = ms > 1e-10 ? 10 * Math.log10(ms) : -100;
      vad.measure(bands);
      if (k === 0) {
        // pitch once per frame, only where voicing could matter (speech or near the threshold)
        if (levelDb >= vad.params.minLevelDbfs && (vad.evidence >= vad.params.threshold - vad.params.voicedBonus || vad.speaking)) {
          this.yin.estimate();
          f0 = this.yin.f0;
          aper = this.yin.aperiodicity;
        }
      }
      vad.hopLevelDbfs = levelDb;
      vad.hopAperiodicity = aper;
      const raw = vad.decide();
      const hop = this.seg.nextHop;
      const r = hop & RING_MASK;
      this.energy[r] = ms;
      this.pitch[r] = f0;
      this.syll[r] = 0;
      this.live[r] = vad.speaking ? 1 : 0;
      const syl = this.syllables;
      syl.energy = bands[0] + bands[1];
      syl.floor = vad.floor[0] + vad.floor[1];
      syl.aperiodicity = aper;
      const peak = syl.update(hop, raw || vad.speaking);
      if (peak >= 0) {
        const at = peak < this.seg.finalUpTo ? this.seg.finalUpTo : peak;
        this.syll[at & RING_MASK]++;
      }
      this.seg.pad = vad.pad;
      this.seg.push(raw, vad.weak);
    }
    this.levelDbfs = frameEnergy > 1e-10 ? 10 * Math.log10(frameEnergy) : -100;
    if (f0 > 0) {
      this.lastF0 = f0;
      this.lastF0Hop = this.seg.nextHop - 1;
    }
  }
}
