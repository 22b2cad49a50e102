export * from './g711.ts';
export * from './pcm.ts';
export * from './resampler.ts';
export * from './reframer.ts';
export * from './wav.ts';
