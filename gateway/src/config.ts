/**
 * Gateway configuration: parsed once from the environment at boot (shared/src/config.ts), frozen.
 * Defaults live here, in one commented object; nothing else in the gateway reads `process.env`.
 */
import { z } from 'zod';
import { loadConfig, envInt, envBool } from '../../shared/src/config.ts';

export const GatewayEnv = z.object({
  /** listen port; 0 picks an ephemeral port */
  GATEWAY_PORT: envInt(8081),
  GATEWAY_HOST: z.string().default('0.0.0.0'),
  /** URL clients are told to use (control plane hands it out); defaults to ws://host:port */
  GATEWAY_PUBLIC_URL: z.string().optional(),
  /** id of this pod in bus events */
  GATEWAY_POD_ID: z.string().default('gw-local'),
  /** the control plane's JWKS as JSON text, or a URL to fetch it from (one of the two is needed by main.ts) */
  GATEWAY_JWKS: z.string().optional(),
  GATEWAY_JWKS_URL: z.string().url().optional(),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),

  /** largest message accepted; a bigger one gets MESSAGE_TOO_BIG and close 1009. 64 KiB is 1.3 s of 24 kHz PCM16 */
  GATEWAY_MAX_PAYLOAD_BYTES: envInt(64 * 1024),
  /** uWS's own limit (maxPayloadLength): beyond it uWS drops the TCP connection without a close frame */
  GATEWAY_HARD_MAX_PAYLOAD_BYTES: envInt(1024 * 1024),
  /** seconds without any message before uWS closes the socket (uWS rounds to 4 s granularity) */
  GATEWAY_IDLE_TIMEOUT_S: envInt(60),
  /** uWS per-socket backpressure ceiling; above it uWS drops sends, so our own high-water mark sits well below */
  GATEWAY_MAX_BACKPRESSURE_BYTES: envInt(1024 * 1024),
  /** audio stops being written to a socket whose buffered bytes exceed this; it waits in the bounded queue */
  GATEWAY_SEND_HIGH_WATER_BYTES: envInt(64 * 1024),
  /** most agent audio queued per connection ahead of pacing; beyond it the oldest frames drop (counted) */
  GATEWAY_OUTPUT_QUEUE_MS: envInt(20_000),
  /** caller audio held while the provider connects (the caller may talk from session.started on) */
  GATEWAY_CONNECT_HOLD_MS: envInt(3000),
  /** how far agent audio may be sent ahead of real-time playout (issue: <= 200 ms) */
  GATEWAY_PLAYOUT_LEAD_MS: envInt(200),
  /** pacing timer period */
  GATEWAY_PACE_TICK_MS: envInt(10),
  /** control messages (JSON events) queued behind a stalled socket before it is closed */
  GATEWAY_CONTROL_QUEUE_MAX: envInt(256),

  GATEWAY_MAX_SESSIONS_PER_TENANT: envInt(1000),
  GATEWAY_MAX_SESSIONS_PER_IP: envInt(200),
  /** inbound messages per second per connection before FLOOD closes it (Twilio sends 50/s) */
  GATEWAY_MAX_MESSAGES_PER_S: envInt(400),
  /** Twilio: time allowed between the socket opening and a valid `start` */
  GATEWAY_TWILIO_START_TIMEOUT_MS: envInt(10_000),
  /** usage.tick period on the event bus */
  GATEWAY_USAGE_TICK_MS: envInt(5000),
  /** SIGTERM: how long live sessions may continue before ending with reason `draining` */
  GATEWAY_DRAIN_DEADLINE_MS: envInt(30_000),
  /** trust X-Forwarded-For for per-IP limits (only behind a proxy that sets it) */
  GATEWAY_TRUST_PROXY: envBool(false),

  /** live speaker features (`features` every 250 ms, `nudge`s, a summary per session) */
  GATEWAY_FEATURES: envBool(true),

  // --- bus and pod registry (issue 8) ---
  /** Redis for the bus (events out, commands in, registry); absent => in-process bus (embedded only) */
  REDIS_URL: z.string().trim().min(1).optional().or(z.literal('').transform(() => undefined)),
  /** key prefix of every bus key and channel; gateway and control must agree */
  BUS_PREFIX: z.string().default('sb:'),
  /** events published while Redis is down are appended here (fsync'd) and delivered in order later; a volume */
  GATEWAY_SPILL_DIR: z.string().default('./data/spill'),
  /** registry heartbeat period and expiry (a pod silent this long is lost) */
  GATEWAY_HEARTBEAT_MS: envInt(5000),
  GATEWAY_HEARTBEAT_TTL_MS: envInt(15_000),
  /** drain: how long to wait for buffered events (final usage) to reach Redis before exiting */
  GATEWAY_DRAIN_FLUSH_MS: envInt(10_000),

  /** echo agent: trailing silence that ends the caller's turn */
  ECHO_END_OF_TURN_MS: envInt(600),
  /** echo agent: frame energy above this counts as speech */
  ECHO_VAD_DBFS: z.coerce.number().default(-40),
  /** echo agent: longest utterance it keeps to speak back */
  ECHO_MAX_UTTERANCE_MS: envInt(15_000),
});

export type GatewayConfig = Readonly<z.infer<typeof GatewayEnv>>;

export function loadGatewayConfig(env: Record<string, string | undefined>): GatewayConfig {
  return loadConfig(GatewayEnv, env);
}

/** Defaults with overrides; what tests and in-process startup use. */
export function gatewayConfig(overrides: Partial<z.infer<typeof GatewayEnv>> = {}): GatewayConfig {
  return Object.freeze({ ...GatewayEnv.parse({}), ...overrides });
}
