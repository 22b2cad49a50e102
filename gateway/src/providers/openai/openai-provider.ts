/**
 * OpenAI Realtime GA adapter (PROTOCOLS.md 2) over WebSocket.
 *
 * Formats are chosen so nothing transcodes: Twilio calls use `audio/pcmu` both ways (μ-law passes
 * straight through), everything else `audio/pcm` 24 kHz, the native client rate. Server VAD decides
 * turns; `speech_started` becomes `onSpeechStarted` (the session's barge-in), and the session's
 * `truncate(responseId, playedMs)` becomes `conversation.item.truncate` with the milliseconds clamped
 * to the audio this item actually delivered (the server errors past that, 2.3). Function calls go out
 * as `onToolCall`; `toolResult` answers with a `function_call_output` item and `response.create`.
 *
 * The Realtime API cannot resume a dropped session, so a reconnect opens a fresh one and replays the
 * final transcripts so far as conversation items.
 */
import { AppError } from '../../../../shared/src/errors.ts';
import type { SessionClaims } from '../../../../shared/src/token.ts';
import { credentialsFor, type ProvidersConfig } from '../config.ts';
import { openSocket, RemoteProvider, toWsUrl } from '../remote-base.ts';
import { openToolCatalog, type ToolCatalog } from '../tools.ts';
import type { AudioFormat } from '../types.ts';

type GaFormat = { type: 'audio/pcm'; rate: 24000 } | { type: 'audio/pcmu' } | { type: 'audio/pcma' };

/** Server events we act on; everything else is ignored (parsed once, narrowed by `type`). */
interface ServerEvent {
  type: string;
  delta?: string;
  transcript?: string;
  response_id?: string;
  item_id?: string;
  call_id?: string;
  name?: string;
  arguments?: string;
  response?: { id: string; status: string; status_details?: { error?: { message?: string } } | null; usage?: { input_tokens?: number; output_tokens?: number } | null };
  error?: { type?: string; code?: string | null; message?: string };
}

interface ResponseAudio {
  itemId: string;
  bytes: number;
}

/** responses whose audio we still remember for truncation (the current one and a few before it) */
const RESPONSES_KEPT = 8;

export interface OpenAIProviderOptions {
  tools?: ToolCatalog;
}

export function openAIFormatFor(transport: SessionClaims['transport']): AudioFormat {
  return transport === 'twilio' ? { codec: 'mulaw', sampleRate: 8000 } : { codec: 'pcm16', sampleRate: 24000 };
}

function gaFormat(f: AudioFormat): GaFormat {
  if (f.codec === 'mulaw') return { type: 'audio/pcmu' };
  if (f.codec === 'alaw') return { type: 'audio/pcma' };
  return { type: 'audio/pcm', rate: 24000 };
}

/** `agent.ref` is `openai`, `openai:<model>`, or `openai:<model>:<format>` with format pcm|pcmu|pcma. */
function parseRef(ref: string | undefined, transport: SessionClaims['transport'], defaultModel: string): { model: string; format: AudioFormat } {
  const [, model, fmt] = (ref ?? '').split(':');
  let format = openAIFormatFor(transport);
  if (fmt === 'pcm') format = { codec: 'pcm16', sampleRate: 24000 };
  else if (fmt === 'pcmu') format = { codec: 'mulaw', sampleRate: 8000 };
  else if (fmt === 'pcma') format = { codec: 'alaw', sampleRate: 8000 };
  return { model: model !== undefined && model !== '' ? model : defaultModel, format };
}

export class OpenAIProvider extends RemoteProvider {
  readonly name = 'openai' as const;
  private readonly format: AudioFormat;
  private readonly model: string;
  private readonly tools: ToolCatalog;
  /** bytes of output audio per millisecond: 8 for G.711, 48 for pcm16 at 24 kHz (2.5) */
  private readonly bytesPerMs: number;
  private outScratch: Buffer = Buffer.allocUnsafe(1920);
  private inScratch: Buffer = Buffer.allocUnsafe(32 * 1024);
  private readonly responses = new Map<string, ResponseAudio>();
  private activeResponse: string | null = null;
  /** a response.create waiting for the active response to finish (the server allows one at a time) */
  private createPending = false;
  private ready: { resolve: () => void; reject: (e: AppError) => void } | null = null;

  constructor(claims: SessionClaims, config: ProvidersConfig, opts: OpenAIProviderOptions = {}) {
    super(claims, config);
    const { model, format } = parseRef(claims.agent.ref, claims.transport, config.OPENAI_MODEL);
    this.model = model;
    this.format = format;
    this.tools = opts.tools ?? openToolCatalog;
    this.bytesPerMs = format.codec === 'pcm16' ? 48 : 8;
  }

  get inputFormat(): AudioFormat {
    return this.format;
  }

  get outputFormat(): AudioFormat {
    return this.format;
  }

  protected async open(resume: boolean): Promise<void> {
    const { apiKey, baseUrl } = credentialsFor(this.config, 'openai', this.claims.tid);
    if (apiKey === undefined) throw new AppError('PROVIDER_UNAVAILABLE', 'no OpenAI API key is configured (OPENAI_API_KEY)');
    const url = `${toWsUrl(baseUrl).replace(/\/+$/, '')}/realtime?model=${encodeURIComponent(this.model)}`;
    const ws = await openSocket(url, {
      headers: { Authorization: `Bearer ${apiKey}` },
      ca: this.config.PROVIDER_EXTRA_CA_PEM,
      timeoutMs: this.config.PROVIDER_CONNECT_TIMEOUT_MS,
      signal: this.signal,
    });
    const ready = new Promise<void>((resolve, reject) => {
      this.ready = { resolve, reject };
    });
    this.adopt(ws, (data, isBinary) => {
      if (!isBinary) this.onEvent(data);
    });
    const timer = setTimeout(() => this.ready?.reject(new AppError('PROVIDER_UNAVAILABLE', 'no session.updated from OpenAI in time')), this.config.PROVIDER_CONNECT_TIMEOUT_MS);
    try {
      await ready;
    } finally {
      clearTimeout(timer);
      this.ready = null;
    }
    if (resume) this.replay();
  }

  private sessionUpdate(): Record<string, unknown> {
    const agent = this.claims.agent;
    const fmt = gaFormat(this.format);
    const transcription = this.config.OPENAI_TRANSCRIPTION_MODEL === '' ? null : { model: this.config.OPENAI_TRANSCRIPTION_MODEL };
    const session: Record<string, unknown> = {
      type: 'realtime',
      output_modalities: ['audio'],
      audio: {
        input: { format: fmt, transcription, turn_detection: { type: 'server_vad', create_response: true, interrupt_response: true } },
        output: { format: fmt, voice: agent.voice ?? this.config.OPENAI_VOICE },
      },
    };
    if (agent.instructions !== undefined) session.instructions = agent.instructions;
    if (agent.tools !== undefined && agent.tools.length > 0) {
      session.tools = agent.tools.map((n) => {
        const d = this.tools(n);
        return { type: 'function', name: d.name, description: d.description, parameters: d.parameters };
      });
      session.tool_choice = 'auto';
    }
    return { type: 'session.update', session };
  }

  /** A fresh Realtime session knows nothing: give it the conversation so far as items. */
  private replay(): void {
    for (const h of this.history) {
      const content = h.role === 'user' ? [{ type: 'input_text', text: h.text }] : [{ type: 'output_text', text: h.text }];
      this.send({ type: 'conversation.item.create', item: { type: 'message', role: h.role === 'user' ? 'user' : 'assistant', content } });
    }
  }

  private send(evt: Record<string, unknown>): void {
    const ws = this.ws;
    if (ws !== null && ws.readyState === ws.OPEN) ws.send(JSON.stringify(evt));
  }

  private onEvent(data: Buffer): void {
    let evt: ServerEvent;
    try {
      evt = JSON.parse(data.toString('utf8')) as ServerEvent;
    } catch {
      this.log?.warn('OpenAI sent a frame that is not JSON');
      return;
    }
    const sink = this.sink;
    switch (evt.type) {
      case 'response.output_audio.delta':
        if (sink !== null && evt.delta !== undefined && evt.response_id !== undefined) this.audio(evt.delta, evt.response_id, evt.item_id ?? '');
        return;
      case 'response.output_audio_transcript.delta':
        if (evt.delta !== undefined && evt.delta !== '') sink?.onTranscript('agent', evt.delta, false);
        return;
      case 'response.output_audio_transcript.done':
        if (evt.transcript !== undefined) {
          this.remember('agent', evt.transcript);
          sink?.onTranscript('agent', evt.transcript, true);
        }
        return;
      case 'conversation.item.input_audio_transcription.completed':
        if (evt.transcript !== undefined) {
          this.remember('user', evt.transcript);
          sink?.onTranscript('user', evt.transcript, true);
        }
        return;
      case 'input_audio_buffer.speech_started':
        sink?.onSpeechStarted();
        return;
      case 'response.created':
        this.activeResponse = evt.response?.id ?? null;
        return;
      case 'response.function_call_arguments.done':
        if (evt.call_id !== undefined && evt.name !== undefined) sink?.onToolCall({ callId: evt.call_id, name: evt.name, arguments: evt.arguments ?? '' });
        return;
      case 'response.done':
        return this.responseDone(evt);
      case 'session.created':
        this.send(this.sessionUpdate());
        return;
      case 'session.updated':
        this.ready?.resolve();
        return;
      case 'error':
        return this.providerError(evt);
      default:
        return;
    }
  }

  private audio(b64: string, responseId: string, itemId: string): void {
    const need = (b64.length * 3) >> 2;
    if (need > this.inScratch.length) this.inScratch = Buffer.allocUnsafe(need * 2);
    const n = this.inScratch.write(b64, 'base64');
    let r = this.responses.get(responseId);
    if (r === undefined || r.itemId !== itemId) {
      r = { itemId, bytes: 0 };
      this.responses.set(responseId, r);
      if (this.responses.size > RESPONSES_KEPT) this.responses.delete(this.responses.keys().next().value!);
    }
    r.bytes += n;
    this.sink?.onAudio(this.inScratch.subarray(0, n), responseId);
  }

  private responseDone(evt: ServerEvent): void {
    const r = evt.response;
    if (r === undefined) return;
    if (this.activeResponse === r.id || this.activeResponse === '') this.activeResponse = null;
    if (this.createPending && this.activeResponse === null) {
      this.createPending = false;
      this.requestResponse();
    }
    const sink = this.sink;
    if (sink === null) return;
    const u = r.usage;
    if (u !== null && u !== undefined) sink.onUsage({ input_tokens: u.input_tokens ?? 0, output_tokens: u.output_tokens ?? 0 });
    if (r.status === 'failed') sink.onError('PROVIDER_ERROR', r.status_details?.error?.message ?? 'OpenAI response failed', true);
    sink.onResponseDone(r.id);
  }

  private providerError(evt: ServerEvent): void {
    const code = evt.error?.code ?? evt.error?.type ?? 'error';
    const message = `${code}: ${evt.error?.message ?? 'OpenAI reported an error'}`;
    if (this.ready !== null) {
      this.ready.reject(new AppError('PROVIDER_ERROR', message));
      return;
    }
    if (code === 'conversation_already_has_active_response') {
      // a server-VAD response won the race with ours: ask again once it is done
      if (this.activeResponse === '') this.activeResponse = null;
      this.createPending = true;
      return;
    }
    if (code === 'beta_api_shape_disabled' || code === 'session_expired') {
      this.fail('PROVIDER_ERROR', message);
      return;
    }
    // The connection stays open after an error (2.4): report it and carry on.
    this.log?.warn({ code }, 'OpenAI error event');
    this.sink?.onError('PROVIDER_ERROR', message, true);
  }

  protected onSocketGone(): void {
    this.ready?.reject(new AppError('PROVIDER_UNAVAILABLE', 'OpenAI closed the connection during setup'));
    const active = this.activeResponse;
    this.activeResponse = null;
    this.createPending = false;
    if (active !== null && active !== '') this.sink?.onResponseDone(active);
  }

  sendAudio(frame: Uint8Array): void {
    const ws = this.writable();
    if (ws === null) return;
    if (frame.length > this.outScratch.length) this.outScratch = Buffer.allocUnsafe(frame.length * 2);
    this.outScratch.set(frame);
    ws.send('{"type":"input_audio_buffer.append","audio":"' + this.outScratch.toString('base64', 0, frame.length) + '"}');
  }

  sendText(text: string, opts: { role: 'user' | 'system'; respond: boolean }): void {
    this.send({ type: 'conversation.item.create', item: { type: 'message', role: opts.role, content: [{ type: 'input_text', text }] } });
    if (opts.role === 'user') this.remember('user', text);
    if (opts.respond) this.requestResponse();
  }

  commitInput(): void {
    this.send({ type: 'input_audio_buffer.commit' });
    this.requestResponse();
  }

  truncate(responseId: string, playedMs: number): void {
    const r = this.responses.get(responseId);
    if (r === undefined || r.itemId === '') return;
    const max = Math.floor(r.bytes / this.bytesPerMs);
    const ms = Math.max(0, Math.min(max, Math.floor(playedMs)));
    this.send({ type: 'conversation.item.truncate', item_id: r.itemId, content_index: 0, audio_end_ms: ms });
  }

  cancel(): void {
    this.createPending = false;
    if (this.activeResponse !== null) this.send({ type: 'response.cancel' });
  }

  toolResult(callId: string, output: string): void {
    this.send({ type: 'conversation.item.create', item: { type: 'function_call_output', call_id: callId, output } });
    this.requestResponse();
  }

  private requestResponse(): void {
    if (this.activeResponse === null) {
      // '' marks "requested, not yet created" until response.created names it
      this.activeResponse = '';
      this.send({ type: 'response.create' });
    } else {
      this.createPending = true;
    }
  }
}
