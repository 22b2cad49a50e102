import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Paths whose values are personal data or secrets. Log personal data only under these keys;
 * pino replaces them at serialisation time (configured once, no per-call cost when unused).
 */
export const REDACT_PATHS = [
  'password', '*.password', 'token', '*.token', 'authorization', '*.authorization', 'req.headers.authorization',
  'req.headers.cookie', 'apiKey', '*.apiKey', 'api_key', '*.api_key', 'secret', '*.secret',
  'pii', '*.pii', 'transcript', '*.transcript', 'phone', '*.phone', 'email', '*.email', 'text', '*.text',
];

export function createLogger(name: string, level: string = 'info', opts: LoggerOptions = {}): Logger {
  return pino({
    name,
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { svc: name },
    ...opts,
  });
}
