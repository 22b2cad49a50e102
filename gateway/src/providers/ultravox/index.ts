export * from './ultravox-provider.ts';
