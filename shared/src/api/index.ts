export * from './common.ts';
export * from './auth.ts';
export * from './users.ts';
export * from './api-keys.ts';
export * from './consents.ts';
export * from './audit.ts';
export * from './sessions.ts';
