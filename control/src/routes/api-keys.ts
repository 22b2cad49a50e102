/** /v1/api-keys: server-to-server credentials (shown once, revocable). */
import { CreateApiKeyRequest, CreateApiKeyResponse, ApiKeyList, ApiKeyView } from '../../../shared/src/api/api-keys.ts';
import { actorOf } from '../types.ts';
import { createApiKey, listApiKeys, revokeApiKey } from '../services/api-keys.ts';
import type { RouteBuilder } from './builder.ts';

export function apiKeyRoutes(b: RouteBuilder) {
  const r = b.router();
  const d = b.deps;
  b.route(r, { method: 'post', path: '/v1/api-keys', summary: 'Create an API key (the secret is shown once)', tag: 'api-keys', auth: 'api_keys:manage', body: CreateApiKeyRequest, response: CreateApiKeyResponse, status: 201 },
    (ctx, { body, principal }) => createApiKey(d.db, principal, actorOf(ctx), body));
  b.route(r, { method: 'get', path: '/v1/api-keys', summary: 'List API keys (no secrets)', tag: 'api-keys', auth: 'api_keys:manage', response: ApiKeyList },
    async (_ctx, { principal }) => ({ data: await listApiKeys(d.db, principal.tenantId) }));
  b.route(r, { method: 'delete', path: '/v1/api-keys/:id', summary: 'Revoke an API key, effective immediately', tag: 'api-keys', auth: 'api_keys:manage', response: ApiKeyView },
    (ctx, { params, principal }) => revokeApiKey(d.db, principal.tenantId, actorOf(ctx), params.id!));
  return r;
}
