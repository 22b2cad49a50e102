/**
 * The Koa application: middleware order is request id -> error boundary -> security headers -> CORS
 * -> JSON-only -> body parser -> routers (one per resource, from routes/index.ts).
 */
import Koa from 'koa';
import helmet from 'koa-helmet';
import cors from '@koa/cors';
import { bodyParser } from '@koa/bodyparser';
import type { ControlDeps, ControlState } from './types.ts';
import { requestId } from './middleware/request-id.ts';
import { errorBoundary } from './middleware/errors.ts';
import { jsonOnly } from './middleware/json-only.ts';
import { RouteBuilder } from './routes/builder.ts';
import { ROUTERS } from './routes/index.ts';
import { docsRoutes } from './routes/docs.ts';
import { buildOpenApi } from './openapi.ts';

export const API_VERSION = '1.0.0';

/** Inbound provider webhooks whose bodies (post-call transcripts and analysis) exceed the API limit. */
const LARGE_BODY_PATHS = new Set(['/v1/webhooks/elevenlabs']);
const WEBHOOK_BODY_LIMIT = '5mb';

export function createApp(deps: ControlDeps): { app: Koa<ControlState>; openapi: Record<string, unknown> } {
  const app = new Koa<ControlState>({ proxy: deps.config.TRUST_PROXY });
  app.silent = true; // errors are logged by the error boundary, once, with the request id
  const origins = new Set(deps.config.CORS_ORIGINS);

  app.use(requestId(deps.logger));
  app.use(errorBoundary());
  app.use(helmet() as unknown as Koa.Middleware<ControlState>);
  app.use(cors({
    origin: (ctx) => (origins.has(ctx.get('origin')) ? ctx.get('origin') : ''),
    allowHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'X-Request-Id'],
    exposeHeaders: ['X-Request-Id', 'Retry-After', 'Idempotent-Replayed'],
    allowMethods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    maxAge: 600,
  }) as unknown as Koa.Middleware<ControlState>);
  app.use(jsonOnly());
  // Provider webhooks carry whole post-call transcripts: they get a larger limit than API requests.
  const jsonTypes = { json: ['application/json', 'application/*+json'] };
  const apiBody = bodyParser({ enableTypes: ['json'], jsonLimit: deps.config.BODY_LIMIT, extendTypes: jsonTypes }) as unknown as Koa.Middleware<ControlState>;
  const webhookBody = bodyParser({ enableTypes: ['json'], jsonLimit: WEBHOOK_BODY_LIMIT, extendTypes: jsonTypes }) as unknown as Koa.Middleware<ControlState>;
  app.use((ctx, next) => (LARGE_BODY_PATHS.has(ctx.path) ? webhookBody(ctx, next) : apiBody(ctx, next)));

  // one root router so 405 (allowedMethods) sees every resource's routes
  const builder = new RouteBuilder(deps);
  const root = builder.router();
  for (const make of ROUTERS) root.use(make(builder).routes());
  const openapi = buildOpenApi(builder.docs, { version: API_VERSION });
  root.use(docsRoutes(() => openapi).routes());
  app.use(root.routes()).use(root.allowedMethods({ throw: true }));
  return { app, openapi };
}
