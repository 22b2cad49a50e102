/**
 * What the three network adapters (openai, elevenlabs, ultravox) share: opening a provider WebSocket
 * with a timeout, and the connection lifecycle policy (livekit/agents-js style: the base owns retry).
 *
 * Policy (issue 6): a connect failure rejects `connect()` with PROVIDER_UNAVAILABLE (the session
 * turns that into an error event and a clean end). An unexpected drop mid-call gets exactly one
 * reconnect attempt, finished within `reconnectBudgetMs` (2 s); the subclass's `open(true)` resumes
 * where the provider allows it and replays the conversation so far where it does not. If that fails
 * too, the sink hears `onClosed(false)` and the session ends with reason `provider_lost`. A drop that
 * follows a fatal provider error (the provider said why, then closed) is not retried.
 */
import WebSocket from 'ws';
import { AppError, type ErrorCode } from '../../../shared/src/errors.ts';
import type { Logger } from '../../../shared/src/logger.ts';
import type { SessionClaims } from '../../../shared/src/token.ts';
import type { AudioFormat, Provider, ProviderConnectOptions, ProviderSink } from './types.ts';
import type { ProvidersConfig } from './config.ts';

export interface OpenSocketOptions {
  headers?: Record<string, string>;
  protocols?: string[];
  ca?: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Opens a client WebSocket; resolves once open, *paused*: a provider that speaks first (OpenAI's
 * session.created, Ultravox's call_started) can have its first frame in the same TCP read as the
 * upgrade, and it would be emitted before the caller's continuation could attach a listener. The
 * caller attaches its handlers and resumes (`RemoteProvider.adopt` does both). Rejects with AppError
 * PROVIDER_UNAVAILABLE naming the HTTP status when the upgrade is refused. Compression is off: audio does not deflate, and an
 * uncompressed `send` copies its data synchronously, so callers may pass views valid until return.
 */
export function openSocket(url: string, opts: OpenSocketOptions): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts.protocols ?? [], {
      headers: opts.headers,
      ca: opts.ca,
      perMessageDeflate: false,
      handshakeTimeout: opts.timeoutMs,
      maxPayload: 32 * 1024 * 1024,
    });
    let settled = false;
    const fail = (message: string): void => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      ws.removeAllListeners();
      ws.on('error', noop);
      ws.terminate();
      reject(new AppError('PROVIDER_UNAVAILABLE', message));
    };
    const onAbort = (): void => fail('connect aborted');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    ws.once('open', () => {
      if (settled) return;
      settled = true;
      ws.pause();
      opts.signal?.removeEventListener('abort', onAbort);
      ws.removeAllListeners('unexpected-response');
      resolve(ws);
    });
    ws.once('unexpected-response', (_req, res) => fail(`provider refused the connection (HTTP ${res.statusCode ?? 0})`));
    ws.on('error', (err) => fail(`provider connection failed: ${err.message}`));
    ws.once('close', () => fail('provider closed the connection during the handshake'));
  });
}

function noop(): void {}

/** `fetch` with a timeout; network failures and timeouts become PROVIDER_UNAVAILABLE. */
export async function providerFetch(url: string, init: RequestInit, timeoutMs: number): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new AppError('PROVIDER_UNAVAILABLE', `provider request failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Turns http(s) base URLs into ws(s). */
export function toWsUrl(base: string): string {
  return base.replace(/^http(s?):/, 'ws$1:');
}

const enum Life {
  Idle = 0,
  Open = 1,
  Reconnecting = 2,
  Closed = 3,
}

/** One conversation turn kept for replay after a reconnect (text only, capped). */
export interface HistoryEntry {
  role: 'user' | 'agent';
  text: string;
}

const HISTORY_MAX = 50;

export abstract class RemoteProvider implements Provider {
  abstract readonly name: 'openai' | 'elevenlabs' | 'ultravox';
  abstract get inputFormat(): AudioFormat;
  abstract get outputFormat(): AudioFormat;

  protected readonly claims: SessionClaims;
  protected readonly config: ProvidersConfig;
  protected sink: ProviderSink | null = null;
  protected log: Logger | null = null;
  protected ws: WebSocket | null = null;
  protected signal: AbortSignal | undefined;
  /** final transcripts, for replay after a reconnect */
  protected readonly history: HistoryEntry[] = [];
  /** caller frames dropped (socket not open or over the high-water mark) */
  droppedFrames = 0;
  /** how many reconnects happened (0 or 1) */
  reconnects = 0;
  private life: Life = Life.Idle;
  private fatal = false;

  constructor(claims: SessionClaims, config: ProvidersConfig) {
    this.claims = claims;
    this.config = config;
  }

  /**
   * Opens (or, with `resume`, re-opens) the provider session and resolves when it is ready for
   * audio. Must call `this.adopt(ws)` on the socket it opened.
   */
  protected abstract open(resume: boolean): Promise<void>;
  /** Called when a socket is gone (before any reconnect), to settle per-connection state. */
  protected abstract onSocketGone(): void;

  abstract sendAudio(frame: Uint8Array): void;
  abstract sendText(text: string, opts: { role: 'user' | 'system'; respond: boolean }): void;
  abstract commitInput(): void;
  abstract truncate(responseId: string, playedMs: number): void;
  abstract cancel(): void;
  abstract toolResult(callId: string, output: string): void;

  async connect(opts: ProviderConnectOptions): Promise<void> {
    this.sink = opts.sink;
    this.log = opts.logger.child({ provider: this.name });
    this.signal = opts.signal;
    try {
      await this.open(false);
    } catch (err) {
      this.life = Life.Closed;
      this.dropSocket();
      throw err instanceof AppError ? err : new AppError('PROVIDER_UNAVAILABLE', err instanceof Error ? err.message : String(err));
    }
    if ((this.life as Life) === Life.Closed) throw new AppError('PROVIDER_UNAVAILABLE', 'closed while connecting');
    this.life = Life.Open;
    opts.signal.addEventListener('abort', () => void this.close(), { once: true });
  }

  async close(): Promise<void> {
    if (this.life === Life.Closed) return;
    const wasOpen = this.life !== Life.Idle;
    this.life = Life.Closed;
    const ws = this.ws;
    this.ws = null;
    if (ws !== null) {
      ws.removeAllListeners('close');
      ws.on('error', noop);
      this.beforeClose(ws);
      if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'session ended');
      else ws.terminate();
    }
    this.onSocketGone();
    const sink = this.sink;
    this.sink = null;
    if (wasOpen) sink?.onClosed(true);
  }

  /** Hook for a last message before our own close (Ultravox `hang_up`). */
  protected beforeClose(_ws: WebSocket): void {}

  /**
   * Takes ownership of a freshly opened (paused) socket: attaches `onMessage`, close/error handling
   * per the policy above, then resumes the socket so no early frame is lost.
   */
  protected adopt(ws: WebSocket, onMessage: (data: Buffer, isBinary: boolean) => void): void {
    if (this.life === Life.Closed) {
      // a reconnect that finished after its budget, or after close(): not wanted any more
      ws.on('error', noop);
      ws.terminate();
      throw new AppError('PROVIDER_UNAVAILABLE', 'provider session already ended');
    }
    this.ws = ws;
    ws.on('message', onMessage);
    ws.on('error', (err) => this.log?.warn({ err: err.message }, 'provider socket error'));
    ws.once('close', (code, reason) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.log?.info({ code, reason: reason.toString() }, 'provider socket closed');
      this.onSocketGone();
      this.onUnexpectedClose(code);
    });
    ws.resume();
  }

  /**
   * Whether a close with this code is worth one reconnect. A clean 1000 from the provider means it
   * ended the conversation on purpose (hang-up, max duration): that is an end, not a drop.
   */
  protected shouldReconnect(code: number): boolean {
    return code !== 1000;
  }

  /** The provider reported an error it will close after (no reconnect then). */
  protected fail(code: ErrorCode, message: string): void {
    this.fatal = true;
    this.sink?.onError(code, message, false);
  }

  protected remember(role: 'user' | 'agent', text: string): void {
    if (text === '') return;
    this.history.push({ role, text });
    if (this.history.length > HISTORY_MAX) this.history.shift();
  }

  /** True when caller audio can go out now; counts the frame as dropped otherwise. */
  protected writable(): WebSocket | null {
    const ws = this.ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN || ws.bufferedAmount > this.config.PROVIDER_SEND_HIGH_WATER_BYTES) {
      this.droppedFrames++;
      return null;
    }
    return ws;
  }

  private dropSocket(): void {
    const ws = this.ws;
    this.ws = null;
    if (ws !== null) {
      ws.removeAllListeners('close');
      ws.on('error', noop);
      ws.terminate();
    }
  }

  private onUnexpectedClose(code: number): void {
    if (this.life !== Life.Open) {
      if (this.life === Life.Idle) this.life = Life.Closed; // during connect: open() rejects on its own
      return;
    }
    if (this.fatal || this.reconnects > 0 || this.signal?.aborted === true || !this.shouldReconnect(code)) {
      this.end();
      return;
    }
    this.life = Life.Reconnecting;
    this.reconnects++;
    this.log?.warn('provider connection lost; reconnecting once');
    const budget = AbortSignal.timeout(this.config.PROVIDER_RECONNECT_BUDGET_MS);
    const attempt = this.open(true);
    const deadline = new Promise<never>((_, reject) => budget.addEventListener('abort', () => reject(new Error('reconnect budget exceeded')), { once: true }));
    Promise.race([attempt, deadline]).then(
      () => {
        if ((this.life as Life) !== Life.Reconnecting) {
          this.dropSocket();
          return;
        }
        this.life = Life.Open;
        this.log?.info('provider reconnected');
      },
      (err: unknown) => {
        this.log?.warn({ err: err instanceof Error ? err.message : String(err) }, 'provider reconnect failed');
        attempt.catch(noop);
        this.dropSocket();
        if ((this.life as Life) === Life.Reconnecting) this.end();
      },
    );
  }

  /** The provider is gone for good: the session ends with reason provider_lost. */
  private end(): void {
    this.life = Life.Closed;
    const sink = this.sink;
    this.sink = null;
    sink?.onClosed(false);
  }
}
