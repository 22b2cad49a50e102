/**
 * Provider construction by name. Adapters register here; the session asks for the one its token
 * names. Unknown or not-yet-available providers fail the session with PROVIDER_UNAVAILABLE.
 */
import { AppError } from '../../../shared/src/errors.ts';
import type { SessionClaims, ProviderName } from '../../../shared/src/token.ts';
import type { GatewayConfig } from '../config.ts';
import type { Provider } from './types.ts';
import { EchoAgent } from './echo/echo-agent.ts';
import { parseEchoOptions } from './echo/options.ts';

export type ProviderBuilder = (claims: SessionClaims, config: GatewayConfig) => Provider;

const builders = new Map<ProviderName, ProviderBuilder>();

export function registerProvider(name: ProviderName, build: ProviderBuilder): void {
  builders.set(name, build);
}

registerProvider('echo', (claims, config) =>
  new EchoAgent(parseEchoOptions(claims), {
    endOfTurnMs: config.ECHO_END_OF_TURN_MS,
    vadDbfs: config.ECHO_VAD_DBFS,
    maxUtteranceMs: config.ECHO_MAX_UTTERANCE_MS,
  }),
);

export function createProvider(claims: SessionClaims, config: GatewayConfig): Provider {
  const build = builders.get(claims.provider);
  if (!build) throw new AppError('PROVIDER_UNAVAILABLE', `provider ${claims.provider} is not available on this gateway`);
  return build(claims, config);
}
