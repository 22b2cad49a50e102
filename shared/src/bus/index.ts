export * from './messages.ts';
export * from './types.ts';
export * from './in-process.ts';
