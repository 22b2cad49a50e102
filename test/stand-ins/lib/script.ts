/**
 * Scripted scenarios shared by the provider stand-ins. Each user turn (or explicit trigger) consumes
 * the next `Turn` of the script; when the script is exhausted the stand-in falls back to its default
 * turn (speak a corpus utterance).
 */

export type Turn =
  /**
   * Answer with corpus speech (conv/utterance), resampled to the negotiated output format.
   * speed: x real time (Infinity = burst, as OpenAI does); chunkMs: audio per message.
   * dropAfterMs: terminate the socket after this much audio was sent (provider lost mid-call).
   * interruptAfterMs: the provider itself interrupts after this much audio (ElevenLabs `interruption`,
   *   Ultravox `playback_clear_buffer`; OpenAI ignores it, its barge-in is driven by the caller's audio).
   */
  | { kind: 'speak'; conv?: string; utterance?: number; speed?: number; chunkMs?: number; dropAfterMs?: number; interruptAfterMs?: number }
  /** Call a client tool and wait for its result; the next turn runs once the result arrives. */
  | { kind: 'tool'; name: string; args: Record<string, unknown> }
  /** Send the provider's error message (and close when the provider would). */
  | { kind: 'error'; code?: string; message?: string; close?: boolean }
  /** Drop the TCP connection without a close frame. */
  | { kind: 'drop' }
  /** Say nothing. */
  | { kind: 'silent' };

export const DEFAULT_TURN: Turn = { kind: 'speak', conv: 'conv00', utterance: 3 };

export class Script {
  private readonly turns: Turn[];
  readonly fallback: Turn;

  constructor(turns: Turn[] = [], fallback: Turn = DEFAULT_TURN) {
    this.turns = [...turns];
    this.fallback = fallback;
  }

  next(): Turn {
    return this.turns.shift() ?? this.fallback;
  }

  push(...turns: Turn[]): void {
    this.turns.push(...turns);
  }

  get remaining(): number {
    return this.turns.length;
  }
}

let counter = 0;
/** Provider-looking ids (`item_…`, `resp_…`, `call_…`), unique per process. */
export function pid(prefix: string): string {
  counter++;
  return `${prefix}_${Date.now().toString(36)}${counter.toString(36).padStart(6, '0')}`;
}

/** Resolves when `pred()` holds, polling every 5 ms; rejects after `timeoutMs`. For tests. */
export async function until(pred: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!pred()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
