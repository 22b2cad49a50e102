/**
 * Registers the network adapters (openai, elevenlabs, ultravox) with the provider registry. Called
 * once at boot with the parsed provider config; until then only `echo` is available.
 */
import { registerProvider } from './registry.ts';
import type { ProvidersConfig } from './config.ts';
import type { ToolCatalog } from './tools.ts';
import { OpenAIProvider } from './openai/index.ts';
import { ElevenLabsProvider } from './elevenlabs/index.ts';
import { UltravoxProvider } from './ultravox/index.ts';

export function registerRemoteProviders(config: ProvidersConfig, opts: { tools?: ToolCatalog } = {}): void {
  registerProvider('openai', (claims) => new OpenAIProvider(claims, config, opts));
  registerProvider('elevenlabs', (claims) => new ElevenLabsProvider(claims, config));
  registerProvider('ultravox', (claims) => new UltravoxProvider(claims, config, opts));
}
