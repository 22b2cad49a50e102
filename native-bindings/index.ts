export * from './opus.ts';
export * from './swisseph.ts';
