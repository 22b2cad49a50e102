/**
 * Ultravox adapter, `serverWebSocket` medium (PROTOCOLS.md 4).
 *
 * The call is created over REST (`POST /api/calls`, or `/api/agents/{id}/calls` when agent.ref names
 * an agent) with input and output sample rates equal to the client's own (8 kHz for Twilio, 24 kHz
 * for the native transport), so the only conversion is G.711 <-> PCM16 on Twilio, never resampling.
 * Audio is binary PCM s16le both ways. Ultravox times turns and interruptions from the input stream,
 * so the input must be continuous (4.2: "20ms of audio every 20ms"): when the session sends nothing
 * (a web client muting, a transport hiccup), a 40 ms timer fills the gap with silence up to the wall
 * clock. `clientBufferSizeMs` is large because we honour `playback_clear_buffer` (4.1), which becomes
 * `onInterruption`.
 *
 * Resuming: a dropped call is continued with `?priorCallId=` (the new call inherits the history).
 */
import type WebSocket from 'ws';
import { AppError } from '../../../../shared/src/errors.ts';
import type { SessionClaims } from '../../../../shared/src/token.ts';
import { credentialsFor, type ProvidersConfig } from '../config.ts';
import { openSocket, providerFetch, RemoteProvider } from '../remote-base.ts';
import { openToolCatalog, parseToolOutput, type ToolCatalog } from '../tools.ts';
import type { AudioFormat, SampleRate } from '../types.ts';

interface DataMessage {
  type?: string;
  callId?: string;
  state?: string;
  role?: string;
  text?: string;
  delta?: string;
  final?: boolean;
  toolName?: string;
  invocationId?: string;
  parameters?: unknown;
}

const FRAME_MS = 20;
/** how often the continuity check runs; it only sends when the caller's audio fell behind real time */
const FILL_TICK_MS = 40;
/** fill gaps longer than this (a little jitter is normal) */
const FILL_SLACK_MS = 60;
/** never fill more than this per tick (a stalled event loop must not cause a burst of seconds) */
const FILL_MAX_MS = 1000;

export interface UltravoxProviderOptions {
  tools?: ToolCatalog;
}

export function ultravoxRateFor(transport: SessionClaims['transport']): SampleRate {
  return transport === 'twilio' ? 8000 : 24000;
}

export class UltravoxProvider extends RemoteProvider {
  readonly name = 'ultravox' as const;
  private readonly format: AudioFormat;
  private readonly agentId: string | undefined;
  private readonly tools: ToolCatalog;
  private readonly silence: Uint8Array;
  private callIdValue: string | null = null;
  private responseSeq = 0;
  private response: string | null = null;
  private ready: { resolve: () => void; reject: (e: AppError) => void } | null = null;
  private fillTimer: NodeJS.Timeout | null = null;
  /** wall-clock start of the audio timeline and ms of caller audio sent since */
  private timelineStart = 0;
  private timelineMs = 0;
  /** ms of silence the continuity filler sent */
  filledMs = 0;

  constructor(claims: SessionClaims, config: ProvidersConfig, opts: UltravoxProviderOptions = {}) {
    super(claims, config);
    const rate = ultravoxRateFor(claims.transport);
    this.format = { codec: 'pcm16', sampleRate: rate };
    const [, agent] = (claims.agent.ref ?? '').split(':');
    this.agentId = agent !== undefined && agent !== '' ? agent : undefined;
    this.tools = opts.tools ?? openToolCatalog;
    this.silence = new Uint8Array(((rate * FRAME_MS) / 1000) * 2);
  }

  get inputFormat(): AudioFormat {
    return this.format;
  }

  get outputFormat(): AudioFormat {
    return this.format;
  }

  /** the current call's id (a new one after a resume) */
  get callId(): string | null {
    return this.callIdValue;
  }

  private callBody(resume: boolean): Record<string, unknown> {
    const agent = this.claims.agent;
    const rate = this.format.sampleRate;
    const body: Record<string, unknown> = {
      medium: { serverWebSocket: { inputSampleRate: rate, outputSampleRate: rate, clientBufferSizeMs: this.config.ULTRAVOX_CLIENT_BUFFER_MS } },
      // a resumed call continues the conversation: the caller speaks next, no second greeting
      firstSpeaker: resume ? 'FIRST_SPEAKER_USER' : 'FIRST_SPEAKER_AGENT',
      metadata: { session_id: this.claims.sid },
    };
    if (this.agentId === undefined) {
      if (agent.instructions !== undefined) body.systemPrompt = agent.instructions;
      const voice = agent.voice ?? this.config.ULTRAVOX_VOICE;
      if (voice !== undefined) body.voice = voice;
      if (agent.language !== undefined) body.languageHint = agent.language;
    }
    if (agent.tools !== undefined && agent.tools.length > 0) {
      body.selectedTools = agent.tools.map((n) => {
        const d = this.tools(n);
        const props = (d.parameters.properties ?? {}) as Record<string, unknown>;
        const required = new Set((d.parameters.required ?? []) as string[]);
        return {
          temporaryTool: {
            modelToolName: d.name,
            description: d.description,
            dynamicParameters: Object.entries(props).map(([name, schema]) => ({ name, location: 'PARAMETER_LOCATION_BODY', schema, required: required.has(name) })),
            client: {},
          },
        };
      });
    }
    return body;
  }

  protected async open(resume: boolean): Promise<void> {
    const { apiKey, baseUrl } = credentialsFor(this.config, 'ultravox', this.claims.tid);
    if (apiKey === undefined) throw new AppError('PROVIDER_UNAVAILABLE', 'no Ultravox API key is configured (ULTRAVOX_API_KEY)');
    const base = baseUrl.replace(/\/+$/, '');
    const path = this.agentId === undefined ? '/api/calls' : `/api/agents/${encodeURIComponent(this.agentId)}/calls`;
    const query = resume && this.callIdValue !== null ? `?priorCallId=${encodeURIComponent(this.callIdValue)}` : '';
    const res = await providerFetch(`${base}${path}${query}`, {
      method: 'POST',
      headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
      body: JSON.stringify(this.callBody(resume)),
    }, this.config.PROVIDER_CONNECT_TIMEOUT_MS);
    if (!res.ok) throw new AppError('PROVIDER_UNAVAILABLE', `Ultravox refused to create the call (HTTP ${res.status})`);
    const call = (await res.json()) as { callId?: unknown; joinUrl?: unknown };
    if (typeof call.joinUrl !== 'string' || typeof call.callId !== 'string') throw new AppError('PROVIDER_UNAVAILABLE', 'Ultravox call response has no joinUrl');
    this.callIdValue = call.callId;
    const ws = await openSocket(call.joinUrl, { ca: this.config.PROVIDER_EXTRA_CA_PEM, timeoutMs: this.config.PROVIDER_CONNECT_TIMEOUT_MS, signal: this.signal });
    const ready = new Promise<void>((resolve, reject) => {
      this.ready = { resolve, reject };
    });
    this.adopt(ws, (data, isBinary) => this.onMessage(data, isBinary));
    const timer = setTimeout(() => this.ready?.reject(new AppError('PROVIDER_UNAVAILABLE', 'no call_started from Ultravox in time')), this.config.PROVIDER_CONNECT_TIMEOUT_MS);
    try {
      await ready;
    } finally {
      clearTimeout(timer);
      this.ready = null;
    }
    this.timelineStart = performance.now();
    this.timelineMs = 0;
    if (this.fillTimer === null) {
      this.fillTimer = setInterval(() => this.fill(), FILL_TICK_MS);
      this.fillTimer.unref();
    }
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    const sink = this.sink;
    if (isBinary) {
      if (sink === null) return;
      if (this.response === null) this.response = `uv-${++this.responseSeq}`;
      sink.onAudio(data, this.response);
      return;
    }
    let msg: DataMessage;
    try {
      msg = JSON.parse(data.toString('utf8')) as DataMessage;
    } catch {
      this.log?.warn('Ultravox sent a text frame that is not JSON');
      return;
    }
    switch (msg.type) {
      case 'call_started':
        this.ready?.resolve();
        return;
      case 'state':
        // each speaking stretch is one response; leaving it means all its audio was sent
        if (msg.state === 'speaking') {
          this.endResponse();
          this.response = `uv-${++this.responseSeq}`;
        } else {
          this.endResponse();
        }
        return;
      case 'transcript': {
        const role = msg.role === 'user' ? 'user' : 'agent';
        if (msg.final === true) {
          const text = msg.text ?? '';
          this.remember(role, text);
          sink?.onTranscript(role, text, true);
        } else {
          const part = msg.delta ?? msg.text ?? '';
          if (part !== '') sink?.onTranscript(role, part, false);
        }
        return;
      }
      case 'playback_clear_buffer':
        this.endResponse();
        sink?.onInterruption();
        return;
      case 'client_tool_invocation':
        if (msg.invocationId !== undefined && msg.toolName !== undefined) {
          sink?.onToolCall({ callId: msg.invocationId, name: msg.toolName, arguments: JSON.stringify(msg.parameters ?? {}) });
        }
        return;
      default:
        return;
    }
  }

  private endResponse(): void {
    const r = this.response;
    this.response = null;
    if (r !== null) this.sink?.onResponseDone(r);
  }

  /** Keeps the input continuous: silence for any stretch the caller's audio fell behind real time. */
  private fill(): void {
    if (this.ws === null) return;
    const behind = performance.now() - this.timelineStart - this.timelineMs;
    if (behind < FILL_SLACK_MS) return;
    const frames = Math.floor(Math.min(behind, FILL_MAX_MS) / FRAME_MS);
    for (let i = 0; i < frames; i++) {
      const ws = this.writable();
      if (ws === null) return;
      ws.send(this.silence);
      this.timelineMs += FRAME_MS;
      this.filledMs += FRAME_MS;
    }
  }

  protected onSocketGone(): void {
    this.ready?.reject(new AppError('PROVIDER_UNAVAILABLE', 'Ultravox closed the connection during setup'));
    this.endResponse();
  }

  protected override beforeClose(ws: WebSocket): void {
    if (this.fillTimer !== null) clearInterval(this.fillTimer);
    this.fillTimer = null;
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'hang_up', message: 'session ended' }));
  }

  override async close(): Promise<void> {
    if (this.fillTimer !== null) clearInterval(this.fillTimer);
    this.fillTimer = null;
    await super.close();
  }

  sendAudio(frame: Uint8Array): void {
    const ws = this.writable();
    // the timeline advances even for a dropped frame: it was real time that passed
    this.timelineMs += (frame.length * 1000) / (this.format.sampleRate * 2);
    if (ws === null) return;
    ws.send(frame);
  }

  sendText(text: string, opts: { role: 'user' | 'system'; respond: boolean }): void {
    const ws = this.ws;
    if (ws === null || ws.readyState !== ws.OPEN) return;
    if (opts.role === 'user') this.remember('user', text);
    // Ultravox has one text input; urgency says whether to answer now or fold it into the next turn.
    ws.send(JSON.stringify({ type: 'user_text_message', text, urgency: opts.respond ? 'immediate' : 'later' }));
  }

  commitInput(): void {
    // Ultravox decides turns from the continuous input stream; there is nothing to commit.
  }

  truncate(_responseId: string, _playedMs: number): void {
    // Ultravox tracks playback against clientBufferSizeMs and clears it itself (playback_clear_buffer).
  }

  cancel(): void {
    // No cancel message in the serverWebSocket protocol; the session stops playback locally.
  }

  toolResult(callId: string, output: string): void {
    const ws = this.ws;
    if (ws === null || ws.readyState !== ws.OPEN) return;
    const parsed = parseToolOutput(output);
    ws.send(JSON.stringify(parsed.ok
      ? { type: 'client_tool_result', invocationId: callId, result: parsed.text }
      : { type: 'client_tool_result', invocationId: callId, errorType: 'implementation-error', errorMessage: parsed.message }));
  }
}
