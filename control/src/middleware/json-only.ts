/** Bodies are JSON or nothing: a body of another type on a write is 415 before anything parses it. */
import type Koa from 'koa';
import { AppError } from '../../../shared/src/errors.ts';
import type { ControlState } from '../types.ts';

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Twilio webhooks are form-encoded by protocol; their routes read and verify the raw body themselves. */
const FORM_WEBHOOKS = /^\/v1\/twilio\/(voice|status)$/;

export function jsonOnly(): Koa.Middleware<ControlState> {
  return async (ctx, next) => {
    if (WRITES.has(ctx.method)) {
      const hasBody = (ctx.request.length ?? 0) > 0 || ctx.get('transfer-encoding') !== '';
      const form = FORM_WEBHOOKS.test(ctx.path) && ctx.is('application/x-www-form-urlencoded');
      if (hasBody && !form && !ctx.is('application/json', 'application/*+json')) throw new AppError('UNSUPPORTED_MEDIA_TYPE');
    }
    await next();
  };
}
