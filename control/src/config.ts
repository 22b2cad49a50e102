/**
 * Control-plane configuration: parsed once from the environment at boot and frozen.
 * Defaults live here, each with the reason it has that value.
 */
import { z } from 'zod';
import { loadConfig, envInt, envBool } from '../../shared/src/config.ts';

const optionalString = z.string().trim().min(1).optional().or(z.literal('').transform(() => undefined));

export const ControlConfigSchema = z.object({
  CONTROL_PORT: envInt(3000),
  CONTROL_HOST: z.string().default('127.0.0.1'),
  /** owner/migrator connection. Absent => embedded PGlite under DATA_DIR. */
  DATABASE_URL: optionalString,
  /**
   * The app's own connection, as the non-owner role RLS applies to. Absent => DATABASE_URL with the
   * user replaced by DATABASE_APP_ROLE (and DATABASE_APP_PASSWORD), the role migration 001 creates.
   */
  DATABASE_APP_URL: optionalString,
  DATABASE_APP_ROLE: z.string().regex(/^[a-z_][a-z0-9_]*$/).default('switchboard_app'),
  /** set on the app role after migrations when given (production: from a secret) */
  DATABASE_APP_PASSWORD: optionalString,
  /** pool size per process; postgres.js opens connections lazily */
  DATABASE_POOL_MAX: envInt(10),
  DATA_DIR: z.string().default('./data'),
  REDIS_URL: optionalString,
  RATE_LIMIT_PREFIX: z.string().default('sb:rl'),
  /** signup/login/refresh attempts per IP per minute */
  AUTH_RATE_LIMIT_PER_MIN: envInt(30),
  /** requests per API key per minute */
  API_KEY_RATE_LIMIT_PER_MIN: envInt(6000),
  PUBLIC_GATEWAY_URL: z.string().url().default('ws://127.0.0.1:8081'), // the gateway's default port
  /** private ES256 JWK (JSON). Absent => generated once and kept in DATA_DIR/signing-key.json */
  CONTROL_SIGNING_JWK: optionalString,
  /** HS256 secret for user access tokens (>= 32 chars). Absent => generated once into DATA_DIR/jwt-secret */
  JWT_SECRET: z.string().min(32).optional().or(z.literal('').transform(() => undefined)),
  ACCESS_TOKEN_TTL_S: envInt(900),
  REFRESH_TOKEN_TTL_S: envInt(30 * 24 * 3600),
  /** session tokens only need to live until the client connects */
  SESSION_TOKEN_TTL_S: envInt(300),
  SESSION_MAX_DURATION_S: envInt(3600),
  /** comma-separated allowlist; empty => no cross-origin access */
  CORS_ORIGINS: z.string().default('').transform((s) => s.split(',').map((o) => o.trim()).filter(Boolean)),
  BODY_LIMIT: z.string().default('100kb'),
  /** scrypt N (power of two). 2^15 ~ 50 ms on one core; tests lower it to keep suites fast */
  SCRYPT_COST: envInt(32768).refine((n) => n >= 1024 && (n & (n - 1)) === 0, 'must be a power of two >= 1024'),
  TRUST_PROXY: envBool(false),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // --- billing, content at rest, telephony, webhooks, tools, retention (issue 4) ---
  /** a session is admitted only if the balance buys this many seconds of its provider */
  BILLING_MIN_PREAUTH_S: envInt(30),
  /** micro-credits granted once when a tenant's credit account opens (trial); 0 disables */
  BILLING_TRIAL_GRANT_MICRO: envInt(10_000_000),
  /**
   * Envelope-encryption master key (32 bytes, base64). Absent => generated once into DATA_DIR/master-key.
   * MASTER_KEYS_PREVIOUS: comma-separated retired master keys, kept only until data keys are re-wrapped.
   */
  MASTER_KEY: optionalString,
  MASTER_KEYS_PREVIOUS: z.string().default('').transform((s) => s.split(',').map((k) => k.trim()).filter(Boolean)),
  /** directory of the local recording store; default DATA_DIR/recordings */
  RECORDINGS_DIR: optionalString,
  /** public base URL Twilio calls (signatures are computed over it), e.g. https://api.example.com */
  PUBLIC_CONTROL_URL: z.string().url().default('http://127.0.0.1:3000'),
  TWILIO_ACCOUNT_SID: optionalString,
  TWILIO_AUTH_TOKEN: optionalString,
  /** Twilio REST base URL; tests point it at a local stand-in */
  TWILIO_API_BASE_URL: z.string().url().default('https://api.twilio.com'),
  /** ElevenLabs post-call webhook secret (HMAC-SHA256) */
  ELEVENLABS_WEBHOOK_SECRET: optionalString,
  /** service credential the gateway presents on /internal/tools (Bearer); absent => the route refuses all */
  CONTROL_SERVICE_TOKEN: z.string().min(24).optional().or(z.literal('').transform(() => undefined)),
  /**
   * let tenant HTTP tools and webhook endpoints reach loopback, private and other special-purpose
   * addresses (development against local services; never on a shared deployment: SSRF)
   */
  EGRESS_ALLOW_PRIVATE: envBool(false),
  /** upper bound for tenant HTTP tool timeouts */
  TOOL_TIMEOUT_MAX_MS: envInt(15_000),
  /** session content (transcripts, recordings, post-call data, features) is deleted after this many days */
  RETENTION_CONTENT_DAYS: envInt(90),
  /** audit rows older than this are pruned (the chain stays verifiable from an anchor) */
  RETENTION_AUDIT_DAYS: envInt(730),
  /** run the retention job in-process every N minutes; 0 (default) = only via `npm run jobs:retention` */
  RETENTION_INTERVAL_MIN: envInt(0),
  // --- bus, gateway registry, webhooks out (issue 8) ---
  /** key prefix of every bus key and channel in Redis (REDIS_URL set); gateway and control must agree */
  BUS_PREFIX: z.string().default('sb:'),
  /** consumer group of this control-plane deployment on the event stream */
  BUS_GROUP: z.string().default('control'),
  /**
   * consumer name of this process in the group; absent => <hostname>-<pid>. A stable name (e.g. the
   * StatefulSet pod name) lets a restarted process re-read what it left pending at once.
   */
  BUS_CONSUMER: optionalString,
  /** events left pending by a dead consumer are taken over after this idle time */
  BUS_CLAIM_IDLE_MS: envInt(60_000),
  /** a gateway pod whose heartbeat is older than this is lost (its sessions fail with gateway_lost) */
  GATEWAY_HEARTBEAT_TTL_MS: envInt(15_000),
  /** how often the control plane looks for lost gateway pods */
  GATEWAY_WATCH_INTERVAL_MS: envInt(5000),
  /** webhooks out: first retry after ~this (exponential, with jitter), given up (dead) after WEBHOOK_MAX_AGE_MS */
  WEBHOOK_BACKOFF_BASE_MS: envInt(10_000),
  WEBHOOK_MAX_AGE_MS: envInt(24 * 3600 * 1000),
  WEBHOOK_TIMEOUT_MS: envInt(10_000),
  /** how often the delivery job looks for due deliveries */
  WEBHOOK_POLL_MS: envInt(1000),
});

export type ControlConfig = z.infer<typeof ControlConfigSchema>;

export function loadControlConfig(env: Record<string, string | undefined>): Readonly<ControlConfig> {
  return loadConfig(ControlConfigSchema, env);
}
