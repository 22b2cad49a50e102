/** /openapi.json and the docs UI at /docs, served from the swagger-ui-dist package (no CDN). */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import Router from '@koa/router';
import type { ControlState } from '../types.ts';

const require = createRequire(import.meta.url);
const DIST = path.dirname(require.resolve('swagger-ui-dist/package.json'));
const FILES: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Switchboard control API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"><link rel="icon" href="/docs/favicon-32x32.png"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script><script src="/docs/swagger-ui-standalone-preset.js"></script>
<script src="/docs/init.js"></script></body></html>`;
// a file, not an inline script, so the default Content-Security-Policy (script-src 'self') holds
const INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: 'StandaloneLayout' });`;

export function docsRoutes(openapi: () => Record<string, unknown>): Router<ControlState> {
  const r = new Router<ControlState>();
  const cache = new Map<string, Buffer>();
  r.get('/openapi.json', (ctx) => { ctx.body = openapi(); });
  r.get('/docs', (ctx) => { ctx.type = 'text/html; charset=utf-8'; ctx.body = PAGE; });
  r.get('/docs/init.js', (ctx) => { ctx.type = 'text/javascript; charset=utf-8'; ctx.body = INIT; });
  r.get('/docs/:file', async (ctx, next) => {
    const file = ctx.params.file!;
    const type = FILES[file];
    if (!type) return next();
    let buf = cache.get(file);
    if (!buf) cache.set(file, (buf = await readFile(path.join(DIST, file))));
    ctx.type = type;
    ctx.set('Cache-Control', 'public, max-age=86400');
    ctx.body = buf;
  });
  return r;
}
