/**
 * Tool-call dispatch: a provider asks for a tool (`ProviderSink.onToolCall`), the session runs it
 * through a `ToolDispatcher` and hands the output back with `provider.toolResult(callId, output)`.
 *
 * The handler contract is `(name, args, ctx) => Promise<{result} | {error}>`; the production handler
 * posts to the control plane's `POST /internal/tools/:name` with the gateway's service credential
 * (`httpToolHandler`). A tool that fails, throws or exceeds the timeout yields an *error result* that
 * goes back to the provider (the model can apologise or retry); the call itself continues.
 *
 * Output convention across adapters: `toolResult` carries one string. A successful result is the
 * result itself (strings as-is, anything else as JSON); an error is the JSON `{"error":"<message>"}`
 * made by `errorOutput`. Adapters whose protocol flags errors (ElevenLabs `is_error`, Ultravox
 * `errorType`) recognise it with `parseToolOutput`.
 */
import type { Logger } from '../../../shared/src/logger.ts';
import type { ToolCall } from './types.ts';
import type { z } from 'zod';
import type { ToolCallRequest } from '../../../shared/src/api/tools.ts';

export type ToolOutcome = { result: unknown } | { error: string };

export interface ToolContext {
  sessionId: string;
  tenantId: string;
  participant: string;
  provider: string;
  callId: string;
  /** aborted when the tool times out or the session ends */
  signal: AbortSignal;
}

export type ToolHandler = (name: string, args: unknown, ctx: ToolContext) => Promise<ToolOutcome>;

export interface ToolRun {
  output: string;
  ok: boolean;
  durationMs: number;
}

const ERROR_KEY = 'error';

export function errorOutput(message: string): string {
  return JSON.stringify({ [ERROR_KEY]: message });
}

/** Splits a `toolResult` output back into success text or an error message (see the convention above). */
export function parseToolOutput(output: string): { ok: true; text: string } | { ok: false; message: string } {
  if (output.startsWith('{"error":')) {
    try {
      const parsed = JSON.parse(output) as Record<string, unknown>;
      const keys = Object.keys(parsed);
      if (keys.length === 1 && typeof parsed[ERROR_KEY] === 'string') return { ok: false, message: parsed[ERROR_KEY] };
    } catch {
      // not our error shape: a result that happens to start the same way
    }
  }
  return { ok: true, text: output };
}

export class ToolDispatcher {
  private readonly handler: ToolHandler;
  private readonly timeoutMs: number;
  private readonly log: Logger | undefined;

  constructor(handler: ToolHandler, timeoutMs: number, log?: Logger) {
    this.handler = handler;
    this.timeoutMs = timeoutMs;
    this.log = log;
  }

  /** Never rejects: every failure becomes an error output. */
  async run(call: ToolCall, ctx: Omit<ToolContext, 'signal' | 'callId'>, sessionSignal?: AbortSignal): Promise<ToolRun> {
    const started = performance.now();
    const done = (output: string, ok: boolean): ToolRun => {
      const durationMs = Math.round(performance.now() - started);
      this.log?.info({ tool: call.name, ok, duration_ms: durationMs }, 'tool call finished');
      return { output, ok, durationMs };
    };
    let args: unknown;
    try {
      args = call.arguments === '' ? {} : JSON.parse(call.arguments);
    } catch {
      return done(errorOutput(`arguments for ${call.name} are not valid JSON`), false);
    }
    const ac = new AbortController();
    const onSessionAbort = (): void => ac.abort(sessionSignal?.reason);
    sessionSignal?.addEventListener('abort', onSessionAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<ToolOutcome>((resolve) => {
      timer = setTimeout(() => {
        ac.abort(new Error('tool timeout'));
        resolve({ error: `tool ${call.name} timed out after ${this.timeoutMs} ms` });
      }, this.timeoutMs);
    });
    try {
      const outcome = await Promise.race([this.handler(call.name, args, { ...ctx, callId: call.callId, signal: ac.signal }), timeout]);
      if ('error' in outcome) return done(errorOutput(outcome.error), false);
      const r = outcome.result;
      return done(typeof r === 'string' ? r : JSON.stringify(r ?? null), true);
    } catch (err) {
      return done(errorOutput(`tool ${call.name} failed: ${err instanceof Error ? err.message : String(err)}`), false);
    } finally {
      clearTimeout(timer);
      sessionSignal?.removeEventListener('abort', onSessionAbort);
    }
  }
}

export interface HttpToolHandlerOptions {
  /** control plane base URL, e.g. http://control:8080 */
  baseUrl: string;
  /** the gateway's service credential (sent as a bearer token) */
  serviceToken: string;
}

/**
 * The production handler: `POST {baseUrl}/internal/tools/:name` with JSON
 * `ToolCallRequest` `{args, session_id, call_id}`; a 2xx body `{result}` is the result,
 * anything else (problem JSON `{error:{code,message}}`, network failure) an error outcome.
 */
export function httpToolHandler(opts: HttpToolHandlerOptions): ToolHandler {
  const base = opts.baseUrl.replace(/\/+$/, '');
  return async (name, args, ctx) => {
    const res = await fetch(`${base}/internal/tools/${encodeURIComponent(name)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${opts.serviceToken}` },
      // the control plane's request schema (shared/src/api/tools.ts); it derives the tenant from the session
      body: JSON.stringify({ args: (args ?? {}) as Record<string, unknown>, session_id: ctx.sessionId, call_id: ctx.callId } satisfies z.input<typeof ToolCallRequest>),
      signal: ctx.signal,
    });
    const text = await res.text();
    let body: unknown;
    try {
      body = text === '' ? null : JSON.parse(text);
    } catch {
      return { error: `tool ${name}: control plane answered ${res.status} with a non-JSON body` };
    }
    if (res.ok && typeof body === 'object' && body !== null && 'result' in body) return { result: (body as { result: unknown }).result };
    const err = (body as { error?: { code?: string; message?: string } } | null)?.error;
    return { error: err?.message ?? `tool ${name}: control plane answered ${res.status}` };
  };
}

/** A function tool as providers declare it (OpenAI `tools[]`, Ultravox temporary tools). */
export interface ToolDefinition {
  name: string;
  description: string;
  /** JSON Schema of the arguments object */
  parameters: Record<string, unknown>;
}

/** Looks up a tool's definition by name; the default describes any tool as taking a free-form object. */
export type ToolCatalog = (name: string) => ToolDefinition;

export const openToolCatalog: ToolCatalog = (name) => ({
  name,
  description: `Call the ${name} tool.`,
  parameters: { type: 'object', properties: {}, additionalProperties: true },
});
