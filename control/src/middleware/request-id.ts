/** Request id (X-Request-Id in and out) and one child logger per request; logs each response once. */
import type Koa from 'koa';
import { newId } from '../../../shared/src/ids.ts';
import type { Logger } from '../../../shared/src/logger.ts';
import type { ControlState } from '../types.ts';

const VALID = /^[A-Za-z0-9._:-]{1,100}$/;

export function requestId(logger: Logger): Koa.Middleware<ControlState> {
  return async (ctx, next) => {
    const incoming = ctx.get('x-request-id');
    const id = VALID.test(incoming) ? incoming : newId();
    ctx.state.requestId = id;
    ctx.state.log = logger.child({ req_id: id });
    ctx.set('X-Request-Id', id);
    const t0 = performance.now();
    try {
      await next();
    } finally {
      ctx.state.log.info({ method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round((performance.now() - t0) * 10) / 10 }, 'request');
    }
  };
}
