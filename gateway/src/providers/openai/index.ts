export * from './openai-provider.ts';
