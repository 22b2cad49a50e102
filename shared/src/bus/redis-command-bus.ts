/**
 * Commands control -> gateway over Redis pub/sub. Every gateway pod subscribes to the one channel and
 * acts only on the sessions it holds, so the control plane never needs to know which pod has a
 * session. Pub/sub is fire-and-forget: a pod that is disconnected at publish time misses the command
 * (the control plane re-issues terminates on later usage ticks; see the billing cut-off).
 */
import type { Redis } from 'ioredis';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { GatewayCommand } from './messages.ts';
import { whenReady } from './redis-connection.ts';
import type { CommandBus } from './types.ts';

export interface RedisCommandBusOptions {
  /** key prefix shared by every pod and the control plane, e.g. `sb:` */
  prefix: string;
  /** connection for PUBLISH (fails fast while Redis is down) */
  publisher: Redis;
  /** dedicated connection in subscriber mode (`autoResubscribe`); owned by this bus once passed */
  subscriber: Redis;
  log: Logger;
}

export class RedisCommandBus implements CommandBus {
  readonly channel: string;
  /** commands received that failed JSON or schema validation (dropped) */
  invalid = 0;
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly log: Logger;
  private readonly handlers = new Set<(cmd: GatewayCommand) => void>();
  private subscribed: Promise<unknown> | null = null;

  constructor(opts: RedisCommandBusOptions) {
    this.channel = `${opts.prefix}commands`;
    this.publisher = opts.publisher;
    this.subscriber = opts.subscriber;
    this.log = opts.log.child({ component: 'command-bus' });
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.dispatch(message);
    });
  }

  /**
   * Rejects with AppError UNAVAILABLE (503) when Redis is unreachable within ~2 s: the caller (an
   * operator's terminate, a credit cut-off) must know the command did not go out.
   */
  async publish(cmd: GatewayCommand): Promise<void> {
    const json = JSON.stringify(GatewayCommand.parse(cmd));
    try {
      await whenReady(this.publisher);
      await this.publisher.publish(this.channel, json);
    } catch (err) {
      this.log.warn({ err, cmd: cmd.type, session_id: cmd.session_id }, 'command publish failed');
      throw new AppError('UNAVAILABLE', 'The command bus is unreachable; retry later.');
    }
  }

  subscribe(handler: (cmd: GatewayCommand) => void): () => void {
    this.handlers.add(handler);
    if (!this.subscribed) {
      this.subscribed = this.subscriber.subscribe(this.channel).catch((err: unknown) => {
        // autoResubscribe covers reconnects; a failure here means the first connect failed and
        // ioredis re-sends the queued SUBSCRIBE when it connects.
        this.log.warn({ err }, 'command channel subscribe failed');
      });
    }
    return () => {
      this.handlers.delete(handler);
    };
  }

  /** Resolves once the channel subscription is confirmed by Redis (for startup ordering and tests). */
  async ready(): Promise<void> {
    if (this.subscribed) await this.subscribed;
  }

  async close(): Promise<void> {
    this.handlers.clear();
    this.subscriber.disconnect();
  }

  private dispatch(message: string): void {
    let raw: unknown;
    try {
      raw = JSON.parse(message);
    } catch {
      this.invalid++;
      this.log.warn({ bytes: message.length }, 'command is not JSON; dropped');
      return;
    }
    const parsed = GatewayCommand.safeParse(raw);
    if (!parsed.success) {
      this.invalid++;
      this.log.warn({ issues: parsed.error.issues.slice(0, 5) }, 'command failed validation; dropped');
      return;
    }
    for (const h of this.handlers) {
      try {
        h(parsed.data);
      } catch (err) {
        this.log.error({ err, cmd: parsed.data.type }, 'command handler threw');
      }
    }
  }
}
