/**
 * A plain `ws` client for talking to stand-ins in tests: keeps every JSON message and binary frame,
 * and waits for a message matching a predicate (protocol events, never timers).
 */
import WebSocket, { type ClientOptions } from 'ws';

export class TestWsClient {
  readonly ws: WebSocket;
  readonly messages: Record<string, any>[] = [];
  readonly binaries: Buffer[] = [];
  closed: { code: number; reason: string } | null = null;
  unexpectedResponse: number | null = null;
  private waiters: (() => void)[] = [];

  constructor(url: string, opts: ClientOptions & { protocols?: string[] } = {}) {
    this.ws = new WebSocket(url, opts.protocols ?? [], opts);
    this.ws.on('message', (data, isBinary) => {
      if (isBinary) this.binaries.push(data as Buffer);
      else this.messages.push(JSON.parse((data as Buffer).toString('utf8')) as Record<string, any>);
      this.wake();
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
    this.ws.on('unexpected-response', (_req, res) => {
      this.unexpectedResponse = res.statusCode ?? 0;
      this.closed = { code: 1006, reason: `http ${res.statusCode}` };
      this.wake();
    });
    this.ws.on('error', () => this.wake());
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  opened(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('close', () => reject(new Error(`closed before open (${this.unexpectedResponse ?? 'no response'})`)));
    });
  }

  send(msg: unknown): void {
    this.ws.send(JSON.stringify(msg));
  }

  /** The first message (at or after index `from`) matching `pred`. */
  async waitFor(pred: (m: Record<string, any>) => boolean, timeoutMs = 5000, from = 0): Promise<Record<string, any>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let i = from; i < this.messages.length; i++) if (pred(this.messages[i]!)) return this.messages[i]!;
      if (this.closed !== null) throw new Error(`socket closed (${this.closed.code} ${this.closed.reason}) while waiting`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; got ${this.messages.map((m) => m.type).join(',')}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  type(t: string, timeoutMs = 5000): Promise<Record<string, any>> {
    return this.waitFor((m) => m.type === t, timeoutMs);
  }

  async waitClose(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (this.closed === null) {
      if (Date.now() > deadline) throw new Error('socket did not close');
      await new Promise((r) => setTimeout(r, 5));
    }
    return this.closed;
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
  }
}

/** `ms` of digital silence at `rate`. */
export function silence(rate: number, ms: number): Int16Array {
  return new Int16Array((rate * ms) / 1000);
}

/** Concatenates PCM arrays. */
export function concat(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Splits PCM into `ms`-long frames (the last may be shorter). */
export function frames(pcm: Int16Array, rate: number, ms: number): Int16Array[] {
  const per = (rate * ms) / 1000;
  const out: Int16Array[] = [];
  for (let i = 0; i < pcm.length; i += per) out.push(pcm.subarray(i, Math.min(pcm.length, i + per)));
  return out;
}
