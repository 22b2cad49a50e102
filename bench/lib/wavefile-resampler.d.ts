// wavefile ships its resampler as an ES module source file without type declarations; the bench calls
// it directly so the comparison times the resampling itself, not WAV packing and unpacking.
declare module 'wavefile/lib/resampler/index.js' {
  export function resample(
    samples: Float64Array,
    oldSampleRate: number,
    sampleRate: number,
    options?: { method?: 'point' | 'linear' | 'cubic' | 'sinc'; LPF?: boolean; LPFType?: 'IIR' | 'FIR'; LPForder?: number; sincFilterSize?: number; clip?: string },
  ): Float64Array;
}
