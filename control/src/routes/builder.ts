/**
 * Route declaration: one call registers the handler on the resource's router, validates params,
 * query and body with zod, applies auth / permission / idempotency / rate limit, and records the
 * same schemas for the OpenAPI document. Routers are one per resource (routes/<resource>.ts).
 */
import type Koa from 'koa';
import Router from '@koa/router';
import { z } from 'zod';
import { AppError } from '../../../shared/src/errors.ts';
import type { Permission } from '../../../shared/src/api/common.ts';
import type { ControlDeps, ControlState, Principal } from '../types.ts';
import { requireAuth } from '../middleware/authenticate.ts';
import { idempotency } from '../middleware/idempotency.ts';
import { limitByIp } from '../middleware/rate-limit.ts';
import { requirePermission } from '../services/roles.ts';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
type Schema = z.ZodType | undefined;
type Out<S> = S extends z.ZodType ? z.output<S> : undefined;
type Ctx = Koa.ParameterizedContext<ControlState> & { params: Record<string, string> };

export interface RouteDoc {
  method: Method;
  path: string;
  summary: string;
  tag: string;
  /** null: public; 'any': any authenticated caller; else the permission needed */
  auth: Permission | 'any' | null;
  body?: z.ZodType;
  query?: z.ZodType;
  response?: z.ZodType;
  status?: number;
  /** error codes worth listing besides the generic ones */
  errors?: string[];
}

interface Req<B, Q> { body: Out<B>; query: Out<Q>; params: Record<string, string> }

const UUID = z.string().uuid();

function parse<S extends z.ZodType>(schema: S, data: unknown, where: string): z.output<S> {
  const r = schema.safeParse(data);
  if (!r.success) {
    throw new AppError('VALIDATION_FAILED', `${where} failed validation`, {
      issues: r.error.issues.map((i) => ({ path: [where, ...i.path].join('.'), message: i.message, code: i.code })),
    });
  }
  return r.data;
}

export class RouteBuilder {
  readonly docs: RouteDoc[] = [];
  private readonly auth: Koa.Middleware<ControlState>;
  private readonly idem: Koa.Middleware<ControlState>;
  private readonly authLimit: Koa.Middleware<ControlState>;

  constructor(readonly deps: ControlDeps) {
    this.auth = requireAuth(deps);
    this.idem = idempotency(deps.db);
    this.authLimit = limitByIp(deps.limiters.auth);
  }

  /** A router for one resource; mount it with `mount`. */
  router(): Router<ControlState> {
    return new Router<ControlState>();
  }

  /** An authenticated route; the handler gets the caller's principal. */
  route<B extends Schema = undefined, Q extends Schema = undefined>(
    router: Router<ControlState>,
    doc: RouteDoc & { auth: Permission | 'any'; body?: B; query?: Q },
    handler: (ctx: Ctx, req: Req<B, Q> & { principal: Principal }) => Promise<unknown>,
  ): void {
    const perm = doc.auth;
    const mws: Koa.Middleware<ControlState>[] = [this.auth];
    if (perm !== 'any') mws.push(async (ctx, next) => { requirePermission(ctx.state.principal, perm); await next(); });
    if (doc.method === 'post') mws.push(this.idem);
    this.register<B, Q>(router, doc, mws, (ctx, req) => handler(ctx, { ...req, principal: ctx.state.principal! }));
  }

  /** A route anyone may call. `rateLimited` puts it under the per-IP auth limiter. */
  publicRoute<B extends Schema = undefined, Q extends Schema = undefined>(
    router: Router<ControlState>,
    doc: RouteDoc & { auth: null; body?: B; query?: Q; rateLimited?: boolean },
    handler: (ctx: Ctx, req: Req<B, Q>) => Promise<unknown>,
  ): void {
    this.register(router, doc, doc.rateLimited ? [this.authLimit] : [], handler);
  }

  private register<B extends Schema, Q extends Schema>(
    router: Router<ControlState>, doc: RouteDoc, mws: Koa.Middleware<ControlState>[],
    handler: (ctx: Ctx, req: Req<B, Q>) => Promise<unknown>,
  ): void {
    this.docs.push(doc);
    const final = async (koaCtx: Koa.ParameterizedContext<ControlState>) => {
      const ctx = koaCtx as Ctx;
      const params = ctx.params as Record<string, string>;
      // ids are UUIDs; anything else names nothing (and must not reach a uuid cast)
      if (params.id !== undefined && !UUID.safeParse(params.id).success) throw new AppError('NOT_FOUND', 'no such resource');
      const query = (doc.query ? parse(doc.query, ctx.query, 'query') : undefined) as Out<Q>;
      const body = (doc.body ? parse(doc.body, ctx.request.body ?? {}, 'body') : undefined) as Out<B>;
      const result = await handler(ctx, { body, query, params });
      if (result !== undefined) {
        ctx.status = doc.status ?? 200;
        ctx.body = result;
      } else if (ctx.body === undefined) {
        ctx.status = 204;
      }
    };
    (router[doc.method] as (path: string, ...m: unknown[]) => unknown).call(router, doc.path, ...mws, final);
  }
}
