/**
 * Provider configuration: base URLs, API keys and tuning for the openai, elevenlabs and ultravox
 * adapters, and the tool-call client. Parsed once at boot from the environment through
 * shared/src/config.ts (like gateway/src/config.ts, which can merge `ProviderEnv` into its schema),
 * frozen. Keys live only here: never in tokens, never logged (the logger redacts `apiKey`).
 *
 * Per-tenant overrides: `PROVIDER_TENANT_OVERRIDES` is JSON
 * `{"<tenant id>": {"openai": {"apiKey": "...", "baseUrl": "..."}, "elevenlabs": {...}, "ultravox": {...}}}`
 * so a tenant can bring its own provider account without the key ever travelling in a token.
 */
import { z } from 'zod';
import { envInt, loadConfig } from '../../../shared/src/config.ts';

const Credentials = z.object({ apiKey: z.string().min(1).optional(), baseUrl: z.string().url().optional() }).strict();
const TenantOverrides = z.record(
  z.string(),
  z.object({ openai: Credentials.optional(), elevenlabs: Credentials.optional(), ultravox: Credentials.optional() }).strict(),
);
export type TenantOverrides = z.infer<typeof TenantOverrides>;

const jsonOverrides = z
  .string()
  .default('{}')
  .transform((s, ctx) => {
    try {
      const parsed = TenantOverrides.safeParse(JSON.parse(s));
      if (parsed.success) return parsed.data;
      ctx.addIssue({ code: 'custom', message: `PROVIDER_TENANT_OVERRIDES: ${parsed.error.issues[0]?.message ?? 'invalid'}` });
    } catch {
      ctx.addIssue({ code: 'custom', message: 'PROVIDER_TENANT_OVERRIDES must be JSON' });
    }
    return z.NEVER;
  });

const ElevenLabsFormat = z.enum(['pcm_16000', 'ulaw_8000']);

export const ProviderEnv = z.object({
  /** OpenAI Realtime GA; the adapter appends `/realtime?model=` and speaks wss (PROTOCOLS.md 2.1) */
  OPENAI_API_KEY: z.string().optional(),
  OPENAI_BASE_URL: z.string().url().default('https://api.openai.com/v1'),
  OPENAI_MODEL: z.string().default('gpt-realtime'),
  OPENAI_VOICE: z.string().default('marin'),
  /** input transcription model; empty disables user transcripts */
  OPENAI_TRANSCRIPTION_MODEL: z.string().default('whisper-1'),

  ELEVENLABS_API_KEY: z.string().optional(),
  ELEVENLABS_BASE_URL: z.string().url().default('https://api.elevenlabs.io'),
  /** agent used when the token's agent.ref names none */
  ELEVENLABS_AGENT_ID: z.string().optional(),
  /**
   * The formats configured on the ElevenLabs agent (the server decides; we must match it). The
   * session learns the real ones from conversation_initiation_metadata before connect() resolves.
   */
  ELEVENLABS_INPUT_FORMAT: ElevenLabsFormat.default('pcm_16000'),
  ELEVENLABS_OUTPUT_FORMAT: ElevenLabsFormat.default('pcm_16000'),
  /** caller audio batched per user_audio_chunk; fewer, larger messages (the SDKs send 100-250 ms) */
  ELEVENLABS_CHUNK_MS: envInt(100),
  /** send `conversation_config_override` (instructions, voice, language) only if the agent allows overrides */
  ELEVENLABS_SEND_OVERRIDES: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),

  ULTRAVOX_API_KEY: z.string().optional(),
  ULTRAVOX_BASE_URL: z.string().url().default('https://api.ultravox.ai'),
  ULTRAVOX_VOICE: z.string().optional(),
  /** large only because we handle playback_clear_buffer (PROTOCOLS.md 4.1) */
  ULTRAVOX_CLIENT_BUFFER_MS: envInt(30_000),

  /** WebSocket / REST connect timeout for every provider */
  PROVIDER_CONNECT_TIMEOUT_MS: envInt(5000),
  /** after an unexpected drop: one reconnect attempt, all within this budget (issue 6: 2 s) */
  PROVIDER_RECONNECT_BUDGET_MS: envInt(2000),
  /** outbound audio stops (frames are dropped and counted) while a provider socket buffers more than this */
  PROVIDER_SEND_HIGH_WATER_BYTES: envInt(256 * 1024),
  /** extra CA certificate (PEM text) trusted for provider TLS, e.g. a corporate proxy's */
  PROVIDER_EXTRA_CA_PEM: z.string().optional(),
  PROVIDER_TENANT_OVERRIDES: jsonOverrides,

  /** control plane base URL for tool calls (`POST {url}/internal/tools/:name`) */
  TOOLS_BASE_URL: z.string().url().optional(),
  /** the gateway's service credential for the control plane's internal endpoints */
  GATEWAY_SERVICE_TOKEN: z.string().optional(),
  /** a tool call that takes longer returns an error result to the provider; the call continues */
  TOOL_TIMEOUT_MS: envInt(8000),
});

export type ProvidersConfig = Readonly<z.infer<typeof ProviderEnv>>;

export function loadProvidersConfig(env: Record<string, string | undefined>): ProvidersConfig {
  return loadConfig(ProviderEnv, env);
}

/** Defaults with overrides (tests, in-process startup). */
export function providersConfig(overrides: Partial<z.input<typeof ProviderEnv>> = {}): ProvidersConfig {
  return loadConfig(ProviderEnv, overrides as Record<string, string | undefined>);
}

export type RemoteProvider = 'openai' | 'elevenlabs' | 'ultravox';

/** The key and base URL for one provider and tenant: the tenant's own account first, then the default. */
export function credentialsFor(config: ProvidersConfig, provider: RemoteProvider, tenantId: string): { apiKey: string | undefined; baseUrl: string } {
  const o = config.PROVIDER_TENANT_OVERRIDES[tenantId]?.[provider];
  switch (provider) {
    case 'openai':
      return { apiKey: o?.apiKey ?? config.OPENAI_API_KEY, baseUrl: o?.baseUrl ?? config.OPENAI_BASE_URL };
    case 'elevenlabs':
      return { apiKey: o?.apiKey ?? config.ELEVENLABS_API_KEY, baseUrl: o?.baseUrl ?? config.ELEVENLABS_BASE_URL };
    case 'ultravox':
      return { apiKey: o?.apiKey ?? config.ULTRAVOX_API_KEY, baseUrl: o?.baseUrl ?? config.ULTRAVOX_BASE_URL };
  }
}
