/**
 * Syllable nuclei from the vowel-band envelope (after de Jong & Wempe 2009): a nucleus is a peak of
 * the 250-1700 Hz intensity that stands out by at least `prominenceDb` from the dips on both sides,
 * is voiced, is well above the noise floor, is within `belowMaxDb` of the talker's recent loudest
 * peaks (consonant bursts are not), and is at least `minGapHops` after the previous nucleus.
 * Streaming: a peak is confirmed once the envelope has fallen `prominenceDb` below it.
 */
export interface SyllableParams {
  prominenceDb: number;
  /** peak must exceed the band noise floor by this much, dB */
  aboveFloorDb: number;
  minGapHops: number;
  voicedAperiodicity: number;
  /** peak must be within this many dB of the talker's recent loudest peak */
  belowMaxDb: number;
}

export const DEFAULT_SYLLABLE_PARAMS: Readonly<SyllableParams> = Object.freeze({
  prominenceDb: 3,
  aboveFloorDb: 9,
  minGapHops: 5,
  // loose: the 2 kHz YIN value of a fast syllable's short vowel is often 0.4-0.6; this only
  // rejects clearly aperiodic bursts (the loudness reference below does the rest)
  voicedAperiodicity: 0.8,
  belowMaxDb: 15,
});

const PEAK_REF_DECAY_DB = 0.01; // per hop: 1 dB/s

export class SyllableDetector {
  readonly params: SyllableParams;
  private rising = true;
  private maxDb = -200;
  private maxHop = -1;
  private maxOk = false;
  private minDb = -200;
  private lastPeak = -1e9;
  private prevE = 0;
  private peakRef = -200;

  constructor(params: Partial<SyllableParams> = {}) {
    this.params = { ...DEFAULT_SYLLABLE_PARAMS, ...params };
  }

  /** inputs of update(), set by the caller (fields: doubles passed as arguments get boxed) */
  energy = 0;
  floor = 0;
  aperiodicity = 1;

  /**
   * One hop: `energy` (mean square of the vowel bands), its noise `floor`, the frame's
   * `aperiodicity`, and whether the VAD thinks this is speech. Returns the hop index of a nucleus
   * confirmed now, or -1.
   */
  update(hop: number, speech: boolean): number {
    const p = this.params;
    const energy = this.energy;
    const floor = this.floor;
    const aperiodicity = this.aperiodicity;
    const sm = 0.5 * (energy + this.prevE);
    this.prevE = energy;
    const db = 10 * Math.log10(sm + 1e-15);
    const floorDb = 10 * Math.log10(floor + 1e-15);
    // a slowly decaying reference of the loudest vowels: consonant bursts well under it are not nuclei
    this.peakRef = db > this.peakRef ? db : this.peakRef - PEAK_REF_DECAY_DB;
    const ok = speech && aperiodicity < p.voicedAperiodicity && db > floorDb + p.aboveFloorDb && db > this.peakRef - p.belowMaxDb;
    let found = -1;
    if (this.rising) {
      if (db > this.maxDb) {
        this.maxDb = db;
        this.maxHop = hop;
        this.maxOk = ok;
      } else if (db < this.maxDb - p.prominenceDb) {
        if (this.maxOk && this.maxDb - this.minDb >= p.prominenceDb && this.maxHop - this.lastPeak >= p.minGapHops) {
          found = this.maxHop;
          this.lastPeak = this.maxHop;
        }
        this.rising = false;
        this.minDb = db;
      }
    } else if (db < this.minDb) {
      this.minDb = db;
    } else if (db > this.minDb + p.prominenceDb) {
      this.rising = true;
      this.maxDb = db;
      this.maxHop = hop;
      this.maxOk = ok;
    }
    return found;
  }
}
