/**
 * ElevenLabs Agents adapter (PROTOCOLS.md 3).
 *
 * With an API key we always fetch a signed URL (`GET /v1/convai/conversation/get-signed-url`, header
 * `xi-api-key`), which works for private and public agents alike and keeps the key off the socket;
 * without one we join a public agent directly. The first message is
 * `conversation_initiation_client_data` (the session's overrides and dynamic variables); audio waits
 * for `conversation_initiation_metadata`, which names the agent's formats (`pcm_16000` or
 * `ulaw_8000`). The formats are configured on the agent, not negotiated per call, and the session
 * builds its converters from `inputFormat`/`outputFormat` before connecting, so the adapter declares
 * them up front (agent.ref `elevenlabs:<agent id>:<format>`, else ELEVENLABS_INPUT/OUTPUT_FORMAT) and
 * refuses the connection with a clear PROVIDER_ERROR if the metadata disagrees.
 *
 * Barge-in is the server's: `interruption {event_id}` means every `audio` event with an id <= that
 * one is stale and is dropped here (3.3), and the session hears `onInterruption`. ElevenLabs has no
 * truncate; `truncate` is a no-op and `cancel` drops the rest of the current response locally
 * (until the next user transcript or interruption).
 * A dropped conversation cannot be resumed: a reconnect starts a new one and replays the transcript
 * so far as a `contextual_update`.
 */
import { AppError } from '../../../../shared/src/errors.ts';
import type { SessionClaims } from '../../../../shared/src/token.ts';
import { credentialsFor, type ProvidersConfig } from '../config.ts';
import { openSocket, providerFetch, RemoteProvider, toWsUrl } from '../remote-base.ts';
import { parseToolOutput } from '../tools.ts';
import type { AudioFormat } from '../types.ts';

export type ElevenLabsFormat = 'pcm_16000' | 'ulaw_8000';

interface ServerMessage {
  type?: string;
  conversation_initiation_metadata_event?: { conversation_id?: string; agent_output_audio_format?: string; user_input_audio_format?: string };
  audio_event?: { audio_base_64?: string; event_id?: number };
  interruption_event?: { event_id?: number };
  ping_event?: { event_id?: number };
  agent_response_event?: { agent_response?: string };
  user_transcription_event?: { user_transcript?: string };
  client_tool_call?: { tool_name?: string; tool_call_id?: string; parameters?: unknown };
  error_event?: { code?: number; message?: string; error_type?: string };
}

export function formatOf(f: string | undefined): AudioFormat | null {
  if (f === 'ulaw_8000') return { codec: 'mulaw', sampleRate: 8000 };
  if (f === 'pcm_16000') return { codec: 'pcm16', sampleRate: 16000 };
  if (f === 'pcm_8000') return { codec: 'pcm16', sampleRate: 8000 };
  if (f === 'pcm_24000') return { codec: 'pcm16', sampleRate: 24000 };
  if (f === 'pcm_48000') return { codec: 'pcm16', sampleRate: 48000 };
  return null;
}

export class ElevenLabsProvider extends RemoteProvider {
  readonly name = 'elevenlabs' as const;
  private readonly inFormat: AudioFormat;
  private readonly outFormat: AudioFormat;
  private readonly agentId: string | undefined;
  private readonly chunk: Buffer;
  private chunkLen = 0;
  private readonly chunkBytes: number;
  private inScratch: Buffer = Buffer.allocUnsafe(16 * 1024);
  /** audio events with ids up to here are stale (interruption or local cancel) */
  private dropUpTo = 0;
  private lastAudioId = 0;
  private responseSeq = 0;
  /** after cancel(): drop agent audio until the next turn boundary */
  private muted = false;
  private response: string | null = null;
  private conversationId: string | null = null;
  /** stale audio events dropped after interruptions */
  staleDropped = 0;
  private ready: { resolve: () => void; reject: (e: AppError) => void } | null = null;

  constructor(claims: SessionClaims, config: ProvidersConfig) {
    super(claims, config);
    const [, agent, fmt] = (claims.agent.ref ?? '').split(':');
    this.agentId = agent !== undefined && agent !== '' ? agent : config.ELEVENLABS_AGENT_ID;
    const both = fmt === 'pcm_16000' || fmt === 'ulaw_8000' ? fmt : undefined;
    this.inFormat = formatOf(both ?? config.ELEVENLABS_INPUT_FORMAT)!;
    this.outFormat = formatOf(both ?? config.ELEVENLABS_OUTPUT_FORMAT)!;
    this.chunkBytes = this.bytesFor(this.inFormat, config.ELEVENLABS_CHUNK_MS);
    this.chunk = Buffer.allocUnsafe(this.chunkBytes);
  }

  get inputFormat(): AudioFormat {
    return this.inFormat;
  }

  get outputFormat(): AudioFormat {
    return this.outFormat;
  }

  /** the current conversation's id (changes after a reconnect) */
  get conversation(): string | null {
    return this.conversationId;
  }

  private bytesFor(f: AudioFormat, ms: number): number {
    return ((f.sampleRate * ms) / 1000) * (f.codec === 'pcm16' ? 2 : 1);
  }

  protected async open(resume: boolean): Promise<void> {
    if (this.agentId === undefined) throw new AppError('PROVIDER_UNAVAILABLE', 'no ElevenLabs agent id (agent.ref elevenlabs:<id> or ELEVENLABS_AGENT_ID)');
    const { apiKey, baseUrl } = credentialsFor(this.config, 'elevenlabs', this.claims.tid);
    const base = baseUrl.replace(/\/+$/, '');
    let url: string;
    if (apiKey !== undefined) {
      const res = await providerFetch(`${base}/v1/convai/conversation/get-signed-url?agent_id=${encodeURIComponent(this.agentId)}`, { headers: { 'xi-api-key': apiKey } }, this.config.PROVIDER_CONNECT_TIMEOUT_MS);
      if (!res.ok) throw new AppError('PROVIDER_UNAVAILABLE', `ElevenLabs refused the signed URL (HTTP ${res.status})`);
      const body = (await res.json()) as { signed_url?: unknown };
      if (typeof body.signed_url !== 'string') throw new AppError('PROVIDER_UNAVAILABLE', 'ElevenLabs signed-URL response has no signed_url');
      url = body.signed_url;
    } else {
      url = `${toWsUrl(base)}/v1/convai/conversation?agent_id=${encodeURIComponent(this.agentId)}`;
    }
    const ws = await openSocket(url, { ca: this.config.PROVIDER_EXTRA_CA_PEM, timeoutMs: this.config.PROVIDER_CONNECT_TIMEOUT_MS, signal: this.signal });
    const ready = new Promise<void>((resolve, reject) => {
      this.ready = { resolve, reject };
    });
    this.adopt(ws, (data, isBinary) => {
      if (!isBinary) this.onMessage(data);
    });
    ws.send(JSON.stringify(this.initiation()));
    const timer = setTimeout(() => this.ready?.reject(new AppError('PROVIDER_UNAVAILABLE', 'no conversation_initiation_metadata from ElevenLabs in time')), this.config.PROVIDER_CONNECT_TIMEOUT_MS);
    try {
      await ready;
    } finally {
      clearTimeout(timer);
      this.ready = null;
    }
    if (resume && this.history.length > 0) {
      const lines = this.history.map((h) => `${h.role === 'user' ? 'User' : 'Agent'}: ${h.text}`).join('\n');
      ws.send(JSON.stringify({ type: 'contextual_update', text: `The call was reconnected. The conversation so far:\n${lines}` }));
    }
  }

  private initiation(): Record<string, unknown> {
    const agent = this.claims.agent;
    const msg: Record<string, unknown> = {
      type: 'conversation_initiation_client_data',
      dynamic_variables: { session_id: this.claims.sid, participant: this.claims.sub },
      user_id: this.claims.sub,
    };
    if (this.config.ELEVENLABS_SEND_OVERRIDES) {
      const a: Record<string, unknown> = {};
      if (agent.instructions !== undefined) a.prompt = { prompt: agent.instructions };
      if (agent.language !== undefined) a.language = agent.language;
      const override: Record<string, unknown> = {};
      if (Object.keys(a).length > 0) override.agent = a;
      if (agent.voice !== undefined) override.tts = { voice_id: agent.voice };
      if (Object.keys(override).length > 0) msg.conversation_config_override = override;
    }
    return msg;
  }

  private onMessage(data: Buffer): void {
    let msg: ServerMessage;
    try {
      msg = JSON.parse(data.toString('utf8')) as ServerMessage;
    } catch {
      this.log?.warn('ElevenLabs sent a frame that is not JSON');
      return;
    }
    const sink = this.sink;
    switch (msg.type) {
      case 'audio': {
        const a = msg.audio_event;
        if (a?.audio_base_64 === undefined || sink === null) return;
        const id = a.event_id ?? this.lastAudioId + 1;
        if (id <= this.dropUpTo || this.muted) {
          this.staleDropped++;
          return;
        }
        this.lastAudioId = id;
        const need = (a.audio_base_64.length * 3) >> 2;
        if (need > this.inScratch.length) this.inScratch = Buffer.allocUnsafe(need * 2);
        const n = this.inScratch.write(a.audio_base_64, 'base64');
        if (this.response === null) this.response = `el-${++this.responseSeq}`;
        sink.onAudio(this.inScratch.subarray(0, n), this.response);
        return;
      }
      case 'interruption':
        this.muted = false;
        this.dropUpTo = Math.max(this.dropUpTo, msg.interruption_event?.event_id ?? this.lastAudioId);
        this.endResponse();
        sink?.onInterruption();
        return;
      case 'ping':
        this.ws?.send(JSON.stringify({ type: 'pong', event_id: msg.ping_event?.event_id }));
        return;
      case 'agent_response': {
        const text = msg.agent_response_event?.agent_response ?? '';
        this.remember('agent', text);
        sink?.onTranscript('agent', text, true);
        return;
      }
      case 'user_transcript': {
        const text = msg.user_transcription_event?.user_transcript ?? '';
        this.muted = false;
        this.endResponse();
        this.remember('user', text);
        sink?.onTranscript('user', text, true);
        return;
      }
      case 'client_tool_call': {
        const c = msg.client_tool_call;
        if (c?.tool_call_id === undefined || c.tool_name === undefined) return;
        sink?.onToolCall({ callId: c.tool_call_id, name: c.tool_name, arguments: JSON.stringify(c.parameters ?? {}) });
        return;
      }
      case 'conversation_initiation_metadata':
        return this.metadata(msg);
      case 'error': {
        const e = msg.error_event;
        const message = `${e?.error_type ?? 'error'}: ${e?.message ?? 'ElevenLabs reported an error'}`;
        if (this.ready !== null) this.ready.reject(new AppError('PROVIDER_ERROR', message));
        else this.fail('PROVIDER_ERROR', message); // the server closes right after an error (3.3)
        return;
      }
      default:
        return;
    }
  }

  private metadata(msg: ServerMessage): void {
    const m = msg.conversation_initiation_metadata_event;
    const inName = m?.user_input_audio_format;
    const outName = m?.agent_output_audio_format;
    const inF = formatOf(inName);
    const outF = formatOf(outName);
    const same = (a: AudioFormat | null, b: AudioFormat): boolean => a !== null && a.codec === b.codec && a.sampleRate === b.sampleRate;
    if (!same(inF, this.inFormat) || !same(outF, this.outFormat)) {
      const message = `the ElevenLabs agent uses ${String(inName)} in / ${String(outName)} out, but the gateway is configured for ` +
        `${this.inFormat.codec}/${this.inFormat.sampleRate} / ${this.outFormat.codec}/${this.outFormat.sampleRate} ` +
        '(set agent.ref elevenlabs:<agent id>:<format> or ELEVENLABS_INPUT_FORMAT / ELEVENLABS_OUTPUT_FORMAT)';
      if (this.ready !== null) this.ready.reject(new AppError('PROVIDER_ERROR', message));
      else {
        this.fail('PROVIDER_ERROR', message);
        this.ws?.close(1000);
      }
      return;
    }
    this.conversationId = m?.conversation_id ?? null;
    this.ready?.resolve();
  }

  private endResponse(): void {
    const r = this.response;
    this.response = null;
    if (r !== null) this.sink?.onResponseDone(r);
  }

  protected onSocketGone(): void {
    this.ready?.reject(new AppError('PROVIDER_UNAVAILABLE', 'ElevenLabs closed the connection during setup'));
    this.chunkLen = 0;
    // event ids restart with the next conversation
    this.dropUpTo = 0;
    this.lastAudioId = 0;
    this.muted = false;
    this.endResponse();
  }

  sendAudio(frame: Uint8Array): void {
    if (this.chunkLen + frame.length > this.chunk.length) this.flush();
    this.chunk.set(frame, this.chunkLen);
    this.chunkLen += frame.length;
    if (this.chunkLen >= this.chunkBytes) this.flush();
  }

  private flush(): void {
    if (this.chunkLen === 0) return;
    const len = this.chunkLen;
    this.chunkLen = 0;
    const ws = this.writable();
    if (ws === null) return;
    ws.send('{"user_audio_chunk":"' + this.chunk.toString('base64', 0, len) + '"}');
  }

  sendText(text: string, opts: { role: 'user' | 'system'; respond: boolean }): void {
    const ws = this.ws;
    if (ws === null || ws.readyState !== ws.OPEN) return;
    if (opts.role === 'user' && opts.respond) {
      this.remember('user', text);
      ws.send(JSON.stringify({ type: 'user_message', text }));
    } else {
      // contextual_update informs the agent without interrupting or forcing a reply (3.2)
      ws.send(JSON.stringify({ type: 'contextual_update', text }));
    }
  }

  commitInput(): void {
    // ElevenLabs takes turns with its own VAD; the best we can do is not hold audio back.
    this.flush();
  }

  truncate(_responseId: string, _playedMs: number): void {
    // No truncate in the Agents protocol: the server tracks the interruption itself (3.3).
  }

  cancel(): void {
    this.muted = this.response !== null;
    this.endResponse();
  }

  toolResult(callId: string, output: string): void {
    const ws = this.ws;
    if (ws === null || ws.readyState !== ws.OPEN) return;
    const parsed = parseToolOutput(output);
    ws.send(JSON.stringify({ type: 'client_tool_result', tool_call_id: callId, result: parsed.ok ? parsed.text : parsed.message, is_error: !parsed.ok }));
  }
}
