/**
 * The outermost error boundary: every error becomes problem JSON {error:{code,message,details,request_id}}
 * with a stable catalogue code. 5xx responses never carry the underlying message or stack.
 */
import type Koa from 'koa';
import { AppError, ERRORS, problem, type ErrorCode } from '../../../shared/src/errors.ts';
import type { ControlState } from '../types.ts';

/** Koa/HTTP errors thrown by libraries (body parser, router) mapped onto catalogue codes. */
function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 400: return 'BAD_REQUEST';
    case 401: return 'UNAUTHENTICATED';
    case 403: return 'FORBIDDEN';
    case 404: return 'NOT_FOUND';
    case 405: return 'METHOD_NOT_ALLOWED';
    case 409: return 'CONFLICT';
    case 413: return 'PAYLOAD_TOO_LARGE';
    case 415: return 'UNSUPPORTED_MEDIA_TYPE';
    case 422: return 'UNPROCESSABLE';
    case 429: return 'RATE_LIMITED';
    case 503: return 'UNAVAILABLE';
    default: return 'INTERNAL';
  }
}

export function errorBoundary(): Koa.Middleware<ControlState> {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new AppError('NOT_FOUND', `no route for ${ctx.method} ${ctx.path}`);
    } catch (err) {
      const rid = ctx.state.requestId ?? null;
      let code: ErrorCode;
      let message: string | undefined;
      let details: unknown;
      let headers: Readonly<Record<string, string>> | undefined;
      if (err instanceof AppError) {
        ({ code, details, headers } = err);
        message = err.message;
      } else {
        const e = err as { status?: number; statusCode?: number; expose?: boolean; message?: string; headers?: Record<string, string> };
        const status = e.status ?? e.statusCode ?? 500;
        code = status >= 400 && status < 600 ? codeForStatus(status) : 'INTERNAL';
        // library 4xx messages are safe (e.g. "invalid JSON"); anything else stays generic
        message = status < 500 && e.expose ? e.message : undefined;
        headers = status === 405 ? e.headers : undefined;
      }
      const body = problem(code, rid, message, details);
      const status = ERRORS[code].status;
      if (status >= 500) {
        body.error.message = problem(code, rid).error.message;
        body.error.details = null;
        ctx.state.log?.error({ err }, 'unhandled error');
      }
      ctx.status = status;
      ctx.body = body;
      if (headers) for (const [k, v] of Object.entries(headers)) ctx.set(k, v);
    }
  };
}
