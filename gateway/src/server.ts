/**
 * The gateway server: uWebSockets.js with the native and Twilio transports, health, readiness and
 * metrics endpoints, bus wiring and graceful drain. `startGateway` is what main.ts, the embedded
 * `npm start` and the tests call.
 */
import uws from 'uWebSockets.js';
import type { JSONWebKeySet } from 'jose';
import type { HttpResponse, us_listen_socket } from 'uWebSockets.js';
import { createTokenVerifier } from '../../shared/src/token.ts';
import type { CommandBus, EventBus } from '../../shared/src/bus/index.ts';
import type { Logger } from '../../shared/src/logger.ts';
import type { GatewayConfig } from './config.ts';
import { createGatewayLogger } from './log.ts';
import { GatewayMetrics } from './metrics.ts';
import { Pacer } from './session/playout.ts';
import { SessionRegistry } from './session/registry.ts';
import type { AnalyzerFactory } from './session/types.ts';
import { conversationAnalyzers } from './session/analyzers.ts';
import { nativeBehavior } from './transports/native.ts';
import type { TransportContext } from './transports/connection.ts';
import { twilioBehavior } from './transports/twilio.ts';
import { realtimeBehavior } from './transports/realtime.ts';
import { registerRemoteProviders } from './providers/remote.ts';
import { httpToolHandler, ToolDispatcher } from './providers/tools.ts';
import type { ProvidersConfig } from './providers/config.ts';
import { writeProblem } from './transports/upgrade.ts';

export interface GatewayOptions {
  config: GatewayConfig;
  jwks: JSONWebKeySet | URL;
  commands?: CommandBus;
  events?: EventBus;
  logger?: Logger;
  /** per-session conversation analysis; the features engine unless GATEWAY_FEATURES=false, or null for none */
  analyzers?: AnalyzerFactory | null;
  /** remote provider settings (base URLs, keys, tools endpoint); without it only `echo` is available */
  providers?: ProvidersConfig;
}

export interface GatewayHandle {
  url: string;
  port: number;
  /** readiness false, new sessions refused; live ones run up to the deadline, then end with `draining` */
  drain(deadlineMs?: number): Promise<void>;
  close(): Promise<void>;
  /** live session count (tests, bench) */
  readonly sessions: number;
  readonly metrics: GatewayMetrics;
}

/** Fails loudly when uWebSockets.js fell back to its slow JS implementation (only the native build has SSLApp). */
export function assertNativeUws(): void {
  if (typeof (uws as { SSLApp?: unknown }).SSLApp !== 'function') {
    throw new Error(
      'uWebSockets.js loaded its JavaScript fallback, not the native build: this Node.js version or platform has no prebuilt binary. ' +
        'Use Node 18/20 on linux-x64/arm64 or darwin, and unset UWS_USE_FALLBACK.',
    );
  }
}

export async function startGateway(opts: GatewayOptions): Promise<GatewayHandle> {
  assertNativeUws();
  const config = opts.config;
  const logger = opts.logger ?? createGatewayLogger(config.LOG_LEVEL);
  let registry: SessionRegistry | null = null;
  const metrics = new GatewayMetrics({ defaultMetrics: true, bufferedBytes: () => registry?.bufferedBytes() ?? 0 });
  const pacer = new Pacer(config.GATEWAY_PACE_TICK_MS);
  const providers = opts.providers;
  if (providers !== undefined) registerRemoteProviders(providers);
  const tools = providers?.TOOLS_BASE_URL && providers.GATEWAY_SERVICE_TOKEN
    ? new ToolDispatcher(httpToolHandler({ baseUrl: providers.TOOLS_BASE_URL, serviceToken: providers.GATEWAY_SERVICE_TOKEN }), providers.TOOL_TIMEOUT_MS, logger.child({ svc: 'tools' }))
    : null;
  registry = new SessionRegistry({ config, metrics, pacer, events: opts.events ?? null, logger, tools, analyzers: opts.analyzers !== undefined ? opts.analyzers : config.GATEWAY_FEATURES ? conversationAnalyzers : null });
  let draining = false;
  const ctx: TransportContext = {
    verifier: createTokenVerifier(opts.jwks),
    registry,
    metrics,
    trustProxy: config.GATEWAY_TRUST_PROXY,
    isDraining: () => draining,
    config,
    pacer,
    logger,
    sockets: new Set(),
  };

  const app = uws.App();
  app.ws('/v1/audio', nativeBehavior(ctx));
  app.ws('/v1/twilio/media', twilioBehavior(ctx));
  app.ws('/v1/realtime', realtimeBehavior(ctx));
  app.get('/healthz', (res) => {
    res.writeHeader('content-type', 'application/json').end('{"status":"ok"}');
  });
  app.get('/readyz', (res) => {
    if (draining) res.writeStatus('503 Service Unavailable').writeHeader('content-type', 'application/json').end('{"ready":false,"reason":"draining"}');
    else res.writeHeader('content-type', 'application/json').end('{"ready":true}');
  });
  app.get('/metrics', (res) => serveMetrics(res, metrics));
  app.any('/*', (res) => writeProblem(res, 'NOT_FOUND'));

  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(config.GATEWAY_HOST, config.GATEWAY_PORT, (token) => {
      if (token) resolve(token);
      else reject(new Error(`gateway could not listen on ${config.GATEWAY_HOST}:${config.GATEWAY_PORT} (port in use?)`));
    });
  });
  const port = uws.us_socket_local_port(listenSocket as never);
  registry.start(opts.commands ?? null);
  pacer.start();
  const host = config.GATEWAY_HOST === '0.0.0.0' ? '127.0.0.1' : config.GATEWAY_HOST;
  const url = `ws://${host}:${port}`;
  logger.info({ port, url }, 'gateway listening');

  let closed = false;
  const reg = registry;
  const closeEverything = (): void => {
    reg.endAll('draining');
    for (const s of [...ctx.sockets]) s.closeNow('draining');
  };

  return {
    url,
    port,
    metrics,
    get sessions() {
      return reg.sessions.size;
    },
    async drain(deadlineMs = config.GATEWAY_DRAIN_DEADLINE_MS) {
      draining = true;
      logger.info({ deadline_ms: deadlineMs, sessions: reg.sessions.size }, 'draining');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([reg.whenEmpty(), new Promise<void>((r) => (timer = setTimeout(r, deadlineMs)))]);
      clearTimeout(timer);
      closeEverything();
    },
    async close() {
      if (closed) return;
      closed = true;
      draining = true;
      closeEverything();
      uws.us_listen_socket_close(listenSocket);
      reg.stop();
      pacer.stop();
      // Let uWS flush the close frames before the caller tears the process down.
      await new Promise((r) => setTimeout(r, 20));
    },
  };
}

function serveMetrics(res: HttpResponse, metrics: GatewayMetrics): void {
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  metrics.registry.metrics().then(
    (text) => {
      if (!aborted) res.cork(() => res.writeHeader('content-type', metrics.registry.contentType).end(text));
    },
    () => {
      if (!aborted) res.cork(() => writeProblem(res, 'INTERNAL'));
    },
  );
}
