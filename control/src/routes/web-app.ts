/**
 * The web app at /app: its page, stylesheet and esbuild bundles, served from the package (no CDN).
 * The bundle is built on first request when control/web/dist is missing (`npm run build:web` does it
 * ahead of time). The page's Content-Security-Policy lets it reach the gateway's WebSocket origin
 * and nothing else off-site.
 */
import { readFile, access } from 'node:fs/promises';
import path from 'node:path';
import type Koa from 'koa';
import type Router from '@koa/router';
import { AppError } from '../../../shared/src/errors.ts';
import type { ControlState } from '../types.ts';
import type { RouteBuilder } from './builder.ts';
import { WEB_DIR, DIST_DIR, BUNDLES, buildWeb } from '../../web/build.ts';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
};
const FILES = new Map<string, string>([
  ['styles.css', path.join(WEB_DIR, 'styles.css')],
  ...BUNDLES.flatMap((b): Array<[string, string]> => [[b, path.join(DIST_DIR, b)], [`${b}.map`, path.join(DIST_DIR, `${b}.map`)]]),
]);

let building: Promise<void> | null = null;

/** Build once per process if the bundles are missing; concurrent requests wait for the same build. */
async function ensureBuilt(): Promise<void> {
  try {
    await Promise.all(BUNDLES.map((b) => access(path.join(DIST_DIR, b))));
    return;
  } catch { /* missing: build */ }
  building ??= buildWeb().catch((err: unknown) => {
    building = null;
    throw new AppError('UNAVAILABLE', `the web app is not built and building it failed (run npm run build:web): ${(err as Error).message}`);
  });
  await building;
}

/** ws://host:port of the gateway (http(s) URLs map to ws(s)), for connect-src. */
function gatewayOrigin(url: string): string {
  const u = new URL(url);
  const scheme = u.protocol === 'https:' || u.protocol === 'wss:' ? 'wss:' : 'ws:';
  return `${scheme}//${u.host}`;
}

export function webAppRoutes(b: RouteBuilder): Router<ControlState> {
  const r = b.router();
  const csp = [
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "media-src 'self' blob:",
    `connect-src 'self' ${gatewayOrigin(b.deps.config.PUBLIC_GATEWAY_URL)}`, "worker-src 'self'", "object-src 'none'",
    "base-uri 'self'", "form-action 'self'", "frame-ancestors 'none'",
  ].join('; ');

  const page = async (ctx: Koa.ParameterizedContext<ControlState>) => {
    await ensureBuilt();
    ctx.type = TYPES['.html']!;
    ctx.set('Content-Security-Policy', csp);
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = await readFile(path.join(WEB_DIR, 'index.html'));
  };
  r.get('/app', page);
  r.get('/app/', page);
  r.get('/app/:file', async (ctx, next) => {
    const file = FILES.get(ctx.params.file!);
    if (!file) return next();
    await ensureBuilt();
    ctx.type = TYPES[path.extname(file)] ?? 'application/octet-stream';
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = await readFile(file);
  });
  return r;
}
