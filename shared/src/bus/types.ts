import type { GatewayCommand, GatewayEvent } from './messages.ts';

/** control -> gateway. Every gateway pod sees every command and acts on the sessions it holds. */
export interface CommandBus {
  publish(cmd: GatewayCommand): Promise<void>;
  /** returns an unsubscribe function */
  subscribe(handler: (cmd: GatewayCommand) => void): () => void;
}

/**
 * gateway -> control, durable. `publish` resolves once the event is accepted for delivery.
 * A consumer's handler must resolve only after the event's effects are committed; a rejected
 * handler leaves the event pending for redelivery.
 */
export interface EventBus {
  publish(ev: GatewayEvent): Promise<void>;
  consume(handler: (ev: GatewayEvent) => Promise<void>): () => void;
}
