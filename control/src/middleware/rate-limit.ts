/**
 * Rate limits (rate-limiter-flexible): per IP on auth endpoints and per API key. Redis-backed when
 * REDIS_URL is set so every replica shares the counts; in memory otherwise. If Redis is unreachable
 * the request is let through (logged): availability of the API over strictness of the limit.
 */
import type Koa from 'koa';
import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { AppError } from '../../../shared/src/errors.ts';
import type { ControlConfig } from '../config.ts';
import type { ControlState } from '../types.ts';

export interface Limiters {
  auth: RateLimiterAbstract;
  apiKey: RateLimiterAbstract;
  close(): Promise<void>;
}

export async function createLimiters(config: Pick<ControlConfig, 'REDIS_URL' | 'RATE_LIMIT_PREFIX' | 'AUTH_RATE_LIMIT_PER_MIN' | 'API_KEY_RATE_LIMIT_PER_MIN'>, log?: { warn(o: object, m: string): void }): Promise<Limiters> {
  const auth = { points: config.AUTH_RATE_LIMIT_PER_MIN, duration: 60, keyPrefix: `${config.RATE_LIMIT_PREFIX}:auth` };
  const apiKey = { points: config.API_KEY_RATE_LIMIT_PER_MIN, duration: 60, keyPrefix: `${config.RATE_LIMIT_PREFIX}:key` };
  if (!config.REDIS_URL) {
    return { auth: new RateLimiterMemory(auth), apiKey: new RateLimiterMemory(apiKey), close: async () => {} };
  }
  const redis = new Redis(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on('error', () => {}); // surfaced per request by the limiter; reconnects on its own
  // connect before serving, so the first requests are counted too (no offline queue by design)
  await redis.connect().catch((err) => log?.warn({ err }, 'Redis unreachable at start; rate limits fail open until it is back'));
  return {
    auth: new RateLimiterRedis({ storeClient: redis, ...auth }),
    apiKey: new RateLimiterRedis({ storeClient: redis, ...apiKey }),
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** Take one point for `key`; throws RATE_LIMITED (429 + Retry-After) when none are left. */
export async function consumePoint(ctx: Koa.ParameterizedContext<ControlState>, limiter: RateLimiterAbstract, key: string): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (e) {
    if (e instanceof RateLimiterRes) {
      const retry = String(Math.max(1, Math.ceil(e.msBeforeNext / 1000)));
      throw new AppError('RATE_LIMITED', undefined, { retry_after_s: Number(retry) }, { 'Retry-After': retry });
    }
    ctx.state.log.warn({ err: e }, 'rate limiter unavailable; request allowed');
  }
}

export function limitByIp(limiter: RateLimiterAbstract): Koa.Middleware<ControlState> {
  return async (ctx, next) => {
    await consumePoint(ctx, limiter, ctx.ip);
    await next();
  };
}
