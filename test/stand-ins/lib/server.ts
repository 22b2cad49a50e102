/**
 * The HTTP(S) + WebSocket shell every stand-in runs in: listens on 127.0.0.1 port 0, routes plain
 * requests to `onRequest` and upgrades to `onUpgrade`, and closes everything (including live sockets)
 * on `close()` so tests never leave handles behind.
 */
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { setImmediate as yieldTurn, setTimeout as sleep } from 'node:timers/promises';
import { WebSocketServer, type WebSocket } from 'ws';
import { selfSignedCert } from './tls.ts';

export interface StandInServer {
  readonly port: number;
  /** `http(s)://127.0.0.1:port` */
  readonly httpUrl: string;
  /** `ws(s)://127.0.0.1:port` */
  readonly wsUrl: string;
  /** PEM of the self-signed certificate when TLS is on (pass as `ca`). */
  readonly ca: string | undefined;
  readonly wss: WebSocketServer;
  close(): Promise<void>;
}

export interface ServerHooks {
  tls?: boolean;
  onRequest(req: http.IncomingMessage, res: http.ServerResponse, body: string): void | Promise<void>;
  onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, wss: WebSocketServer): void;
}

export async function startServer(hooks: ServerHooks): Promise<StandInServer> {
  const material = hooks.tls === true ? selfSignedCert() : undefined;
  const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 });
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      Promise.resolve(hooks.onRequest(req, res, Buffer.concat(chunks).toString('utf8'))).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ detail: String(err) }));
      });
    });
  };
  const server = material !== undefined ? https.createServer({ key: material.key, cert: material.cert }, handler) : http.createServer(handler);
  server.on('upgrade', (req, socket, head) => hooks.onUpgrade(req, socket, head, wss));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('stand-in did not bind a TCP port');
  const port = addr.port;
  const secure = material !== undefined;
  return {
    port,
    httpUrl: `${secure ? 'https' : 'http'}://127.0.0.1:${port}`,
    wsUrl: `${secure ? 'wss' : 'ws'}://127.0.0.1:${port}`,
    ca: material?.cert,
    wss,
    async close() {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Refuses an upgrade with a plain HTTP status and a JSON body, as the providers' edges do. */
export function rejectUpgrade(socket: Duplex, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
  );
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Sends a JSON text frame if the socket is open; returns whether it was sent. */
export function sendWs(ws: WebSocket, msg: unknown): boolean {
  if (ws.readyState !== ws.OPEN) return false;
  ws.send(JSON.stringify(msg));
  return true;
}

/**
 * Runs `count` steps of `chunkMs` audio each at `speed` x real time (Infinity = as fast as the socket
 * takes it, yielding to the event loop between steps so incoming events interleave). Stops early when
 * `step` returns false. Resolves with the number of steps run.
 */
export async function paced(count: number, chunkMs: number, speed: number, step: (i: number) => boolean): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    if (!step(i)) return i;
    if (Number.isFinite(speed)) {
      const due = start + ((i + 1) * chunkMs) / speed;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
    } else {
      await yieldTurn();
    }
  }
  return count;
}

/** Splits `text` into `n` roughly equal word groups (transcript deltas that follow the audio). */
export function splitWords(text: string, n: number): string[] {
  const words = text.split(/(?<=\s)/);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const a = Math.floor((i * words.length) / n);
    const b = Math.floor(((i + 1) * words.length) / n);
    out.push(words.slice(a, b).join(''));
  }
  return out;
}
