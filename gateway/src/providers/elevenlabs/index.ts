export * from './elevenlabs-provider.ts';
