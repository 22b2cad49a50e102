export * from './native.ts';
export * from './twilio.ts';
