/**
 * Bundle the web app with esbuild into control/web/dist: app.js (the page) and the two AudioWorklet
 * modules (each its own file: addModule loads them by URL). `npm run build:web`; also run before
 * `npm start` and `npm test`, and on demand by the /app route when dist is missing.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const WEB_DIR = path.dirname(fileURLToPath(import.meta.url));
export const DIST_DIR = path.join(WEB_DIR, 'dist');
export const BUNDLES = ['app.js', 'capture-worklet.js', 'playback-worklet.js'] as const;

export async function buildWeb(opts: { minify?: boolean } = {}): Promise<void> {
  // loaded lazily: esbuild is a build-time (dev) dependency, not needed to serve an existing build
  const esbuild = await import('esbuild');
  await esbuild.build({
    entryPoints: {
      app: path.join(WEB_DIR, 'src/main.ts'),
      'capture-worklet': path.join(WEB_DIR, 'src/capture-worklet.ts'),
      'playback-worklet': path.join(WEB_DIR, 'src/playback-worklet.ts'),
    },
    outdir: DIST_DIR,
    bundle: true,
    format: 'esm',
    target: ['chrome100', 'firefox100', 'safari15'],
    minify: opts.minify ?? true,
    sourcemap: 'linked',
    legalComments: 'none',
    logLevel: 'warning',
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t0 = performance.now();
  await buildWeb();
  process.stdout.write(`web app built into ${path.relative(process.cwd(), DIST_DIR) || DIST_DIR} in ${Math.round(performance.now() - t0)} ms\n`);
}
