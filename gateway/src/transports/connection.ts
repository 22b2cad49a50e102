/**
 * What the three transports (native, Twilio, Realtime) share: the context they run in, the socket
 * options every WebSocket route sets explicitly, the trampolines from uWS's handlers into the
 * connection object kept in the socket's user data (module-level functions, no closures per
 * connection), and the bounded queue that keeps control messages from ever being dropped.
 */
import type { HttpRequest, HttpResponse, WebSocket, WebSocketBehavior, us_socket_context_t } from 'uWebSockets.js';
import type { EndReason } from '../../../shared/src/bus/index.ts';
import type { Logger } from '../../../shared/src/logger.ts';
import type { GatewayConfig } from '../config.ts';
import type { Pacer } from '../session/playout.ts';
import type { UpgradeContext } from './upgrade.ts';

export interface TransportContext extends UpgradeContext {
  config: GatewayConfig;
  pacer: Pacer;
  logger: Logger;
  /** every open socket of this gateway (closed on shutdown) */
  sockets: Set<{ closeNow(reason: EndReason): void }>;
}

/** The connection object a transport keeps per socket; uWS events are forwarded to it. */
export interface SocketConnection {
  /** called once the connection is registered (may already send) */
  onOpen?(): void;
  onMessage(message: ArrayBuffer, isBinary: boolean): void;
  onDrain(): void;
  onClose(): void;
}

/** User data of every transport's sockets: `conn` is set in `open`, before any message arrives. */
export interface ConnectionUserData {
  conn: SocketConnection | null;
}

/**
 * A route's WebSocket behaviour: payload limit, idle timeout and backpressure bound from the config
 * (uWS never closes on the bound: the connection's own queues decide), automatic pings, and the
 * message/drain/close handlers forwarding to `conn`. `open` creates the connection; it is registered
 * (user data, the gateway's socket set) before its `onOpen` runs.
 */
export function connectionBehavior<U extends ConnectionUserData>(
  ctx: TransportContext,
  handlers: {
    upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void;
    open(ws: WebSocket<U>): SocketConnection & { closeNow(reason: EndReason): void };
  },
): WebSocketBehavior<U> {
  const { config } = ctx;
  return {
    // Realtime clients send base64 JSON (a third larger than the audio); OpenAI allows 15 MiB per
    // append, so uWS admits up to the hard cap and each transport enforces its own limit with an error.
    maxPayloadLength: Math.max(config.GATEWAY_HARD_MAX_PAYLOAD_BYTES, config.GATEWAY_MAX_PAYLOAD_BYTES),
    idleTimeout: config.GATEWAY_IDLE_TIMEOUT_S,
    maxBackpressure: config.GATEWAY_MAX_BACKPRESSURE_BYTES,
    closeOnBackpressureLimit: 0,
    sendPingsAutomatically: true,
    upgrade: handlers.upgrade,
    open: (ws) => {
      const conn = handlers.open(ws);
      ws.getUserData().conn = conn;
      ctx.sockets.add(conn);
      conn.onOpen?.();
    },
    message: onMessage,
    drain: onDrain,
    close: onClose,
  };
}

function onMessage(ws: WebSocket<ConnectionUserData>, message: ArrayBuffer, isBinary: boolean): void {
  ws.getUserData().conn?.onMessage(message, isBinary);
}

function onDrain(ws: WebSocket<ConnectionUserData>): void {
  ws.getUserData().conn?.onDrain();
}

function onClose(ws: WebSocket<ConnectionUserData>): void {
  ws.getUserData().conn?.onClose();
}

/**
 * Control messages (JSON text events) never drop: one goes out at once when nothing waits ahead of it
 * and the socket is under its high-water mark; otherwise it waits here, in order, for the next drain.
 * The wait is bounded: a client that stops reading overflows it, and the caller closes that client.
 */
export class ControlQueue {
  private readonly queue: string[] = [];

  constructor(
    private readonly ws: WebSocket<ConnectionUserData>,
    private readonly highWaterBytes: number,
    private readonly maxQueued: number,
    private readonly log: Logger,
  ) {}

  /** messages waiting for the socket to drain */
  get length(): number {
    return this.queue.length;
  }

  /** Sends or queues `text`; false when the queue is full (the client is not reading). */
  send(text: string): boolean {
    if (this.queue.length === 0 && this.ws.getBufferedAmount() <= this.highWaterBytes) {
      if (this.ws.send(text, false) !== 2) return true;
    }
    if (this.queue.length >= this.maxQueued) {
      this.log.warn('control queue overflow: client is not reading');
      return false;
    }
    this.queue.push(text);
    return true;
  }

  /** On drain: sends what the socket takes now. True when nothing is left waiting. */
  flush(): boolean {
    while (this.queue.length > 0 && this.ws.getBufferedAmount() <= this.highWaterBytes) {
      if (this.ws.send(this.queue[0]!, false) === 2) break; // uWS refused it; keep it for the next drain
      this.queue.shift();
    }
    return this.queue.length === 0;
  }
}
