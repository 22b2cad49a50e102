/**
 * In-process bus: the embedded default when one process hosts both services (`npm start`).
 * Commands fan out synchronously to subscribers; events are queued and handed to the consumer in
 * order, retried (with a short backoff) until the handler resolves, so nothing is lost while the
 * process lives.
 */
import type { GatewayCommand, GatewayEvent } from './messages.ts';
import type { CommandBus, EventBus } from './types.ts';

export class InProcessCommandBus implements CommandBus {
  private readonly handlers = new Set<(cmd: GatewayCommand) => void>();
  async publish(cmd: GatewayCommand): Promise<void> {
    for (const h of this.handlers) h(cmd);
  }
  subscribe(handler: (cmd: GatewayCommand) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }
}

export class InProcessEventBus implements EventBus {
  private readonly queue: GatewayEvent[] = [];
  private handler: ((ev: GatewayEvent) => Promise<void>) | null = null;
  private pumping = false;
  retryDelayMs = 100;

  async publish(ev: GatewayEvent): Promise<void> {
    this.queue.push(ev);
    void this.pump();
  }

  consume(handler: (ev: GatewayEvent) => Promise<void>): () => void {
    this.handler = handler;
    void this.pump();
    return () => {
      if (this.handler === handler) this.handler = null;
    };
  }

  /** events accepted but not yet applied */
  get pending(): number {
    return this.queue.length;
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0 && this.handler) {
        const ev = this.queue[0]!;
        try {
          await this.handler(ev);
          this.queue.shift();
        } catch {
          await new Promise((r) => setTimeout(r, this.retryDelayMs));
        }
      }
    } finally {
      this.pumping = false;
    }
  }
}
