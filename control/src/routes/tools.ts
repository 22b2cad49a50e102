/** /v1/tools (tenant tool registry) and /internal/tools/:name (the gateway's tool calls, service credential). */
import { z } from 'zod';
import { ToolCallRequest, ToolCallResponse, ToolCreate, ToolList, ToolView } from '../../../shared/src/api/tools.ts';
import { actorOf } from '../types.ts';
import { callTool, checkServiceToken, createTool, deleteTool, listTools } from '../services/tools.ts';
import type { RouteBuilder } from './builder.ts';

export function toolRoutes(b: RouteBuilder) {
  const r = b.router();
  const d = b.deps;
  b.route(r, { method: 'get', path: '/v1/tools', summary: 'Built-in and tenant tools with their argument schemas', tag: 'tools', auth: 'tools:manage', response: ToolList },
    (_ctx, { principal }) => listTools(d.db, principal));
  b.route(r, { method: 'post', path: '/v1/tools', summary: 'Define an HTTP tool (URL, JSON Schema of arguments, HMAC secret, timeout)', tag: 'tools', auth: 'tools:manage', body: ToolCreate, response: ToolView, status: 201 },
    (ctx, { body, principal }) => createTool(d.db, d.config, principal, actorOf(ctx), body));
  b.route(r, { method: 'delete', path: '/v1/tools/:id', summary: 'Remove a tenant tool', tag: 'tools', auth: 'tools:manage' },
    async (ctx, { params, principal }) => { await deleteTool(d.db, principal, actorOf(ctx), params.id!); return undefined; });
  // the credential is checked before anything reads the body: strangers learn nothing about the schema
  r.use('/internal/tools', async (ctx, next) => {
    checkServiceToken(d.config, ctx.get('authorization') || undefined);
    await next();
  });
  b.publicRoute(r, {
    method: 'post', path: '/internal/tools/:name', auth: null, tag: 'internal', body: ToolCallRequest, response: ToolCallResponse,
    errors: ['UNAUTHENTICATED', 'UNPROCESSABLE', 'TOOL_FAILED', 'FORBIDDEN', 'CONFLICT'],
    summary: 'Gateway-only: run a tool for a live session (Authorization: Bearer <CONTROL_SERVICE_TOKEN>); 422 names the invalid argument',
  }, async (_ctx, { params, body }) => {
    z.string().min(1).max(64).parse(params.name);
    return callTool({ db: d.db, config: d.config }, params.name!, body);
  });
  return r;
}
