export * from './echo-agent.ts';
export * from './options.ts';
