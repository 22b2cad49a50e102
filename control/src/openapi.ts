/** OpenAPI 3.1 document built from the same zod schemas the routes validate with (z.toJSONSchema). */
import { z } from 'zod';
import { ERRORS } from '../../shared/src/errors.ts';
import { ProblemSchema } from '../../shared/src/api/common.ts';
import type { RouteDoc } from './routes/builder.ts';

function schemaOf(s: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const j = z.toJSONSchema(s, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
  delete j.$schema;
  return j;
}

function queryParams(s: z.ZodType): unknown[] {
  const j = schemaOf(s, 'input') as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(j.properties ?? {}).map(([name, schema]) => ({
    name, in: 'query', required: j.required?.includes(name) ?? false, schema,
  }));
}

export function buildOpenApi(routes: readonly RouteDoc[], info: { version: string; serverUrl?: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const problem = { content: { 'application/json': { schema: { $ref: '#/components/schemas/Problem' } } } };
  for (const r of routes) {
    const path = r.path.replace(/:([A-Za-z_]+)/g, '{$1}');
    const params: unknown[] = [...r.path.matchAll(/:([A-Za-z_]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    if (r.query) params.push(...queryParams(r.query));
    const status = String(r.status ?? (r.response ? 200 : 204));
    const responses: Record<string, unknown> = {
      [status]: r.response ? { description: 'OK', content: { 'application/json': { schema: schemaOf(r.response, 'output') } } } : { description: 'No content' },
      default: { description: 'Problem (see the error catalogue in the description)', ...problem },
    };
    if (r.auth) responses['401'] = { description: 'Not authenticated', ...problem };
    if (r.auth && r.auth !== 'any') responses['403'] = { description: `Needs ${r.auth}`, ...problem };
    if (r.body) {
      responses['400'] = { description: 'Validation failed', ...problem };
      responses['415'] = { description: 'Not JSON', ...problem };
    }
    (paths[path] ??= {})[r.method] = {
      summary: r.summary,
      tags: [r.tag],
      operationId: `${r.method}${path.replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      ...(r.auth ? { security: [{ bearer: [] }], 'x-permission': r.auth } : { security: [] }),
      ...(params.length ? { parameters: params } : {}),
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: schemaOf(r.body, 'input') } } } } : {}),
      ...(r.method === 'post' && r.auth ? { 'x-idempotency': 'Idempotency-Key header honoured' } : {}),
      responses,
    };
  }
  const catalogue = Object.entries(ERRORS).map(([c, s]) => `| ${c} | ${s.status} | ${s.message} |`).join('\n');
  return {
    openapi: '3.1.0',
    info: {
      title: 'Switchboard control plane',
      version: info.version,
      description: `Tenants, auth, API keys, consents, audit and voice sessions.\n\nErrors are problem JSON \`{error:{code,message,details,request_id}}\`:\n\n| code | status | meaning |\n|---|---|---|\n${catalogue}`,
    },
    ...(info.serverUrl ? { servers: [{ url: info.serverUrl }] } : {}),
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'user access token (JWT) or API key (sk_...)' } },
      schemas: { Problem: schemaOf(ProblemSchema, 'output') },
    },
    paths,
  };
}
