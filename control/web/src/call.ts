/**
 * One call on the gateway's native `/v1/audio` protocol: binary PCM16LE 24 kHz both ways, JSON events
 * (shared/src/protocol/native.ts). Microphone frames go out as they come; agent audio goes to the
 * jitter buffer; what actually played goes back as `playback.ack`; `playback.clear` empties the
 * buffer at once.
 */
import type { z } from 'zod';
import type { NativeServerEvent, NativeClientEvent } from '../../../shared/src/protocol/native.ts';
import type { FeaturesEvent, LiveParticipantFeatures, NudgeEvent } from '../../../shared/src/features.ts';
import { openAudio, type AudioIo } from './audio.ts';
import type { PlaybackReport } from './playback-worklet.ts';

export type ServerEvent = z.infer<typeof NativeServerEvent>;
export type LiveFeatures = Pick<FeaturesEvent, 't_ms'> & { participants: LiveParticipantFeatures[] };
export type Nudge = Partial<NudgeEvent> & { kind: string };

/** Counters the UI shows and the end-to-end test reads (window.switchboard.stats). */
export interface CallStats {
  framesSent: number;
  bytesSent: number;
  framesReceived: number;
  bytesReceived: number;
  playedMs: number;
  acks: number;
  lastAckMs: number;
  clears: number;
  features: number;
  transcripts: number;
  nudges: number;
}

export interface CallHandlers {
  onStarted(ev: Extract<ServerEvent, { type: 'session.started' }>): void;
  onTranscript(ev: Extract<ServerEvent, { type: 'transcript' }>): void;
  onFeatures(ev: LiveFeatures): void;
  onNudge(ev: Nudge): void;
  onError(code: string, message: string): void;
  onEnded(reason: string): void;
  onStats(stats: CallStats): void;
}

/** socket buffer above which microphone frames are dropped rather than queued (stale audio is useless) */
const MAX_BUFFERED = 64 * 1024;

/** The live payload's participants: an array, or the analyzer's whole FeaturesEvent nested inside. */
function participantsOf(raw: unknown): LiveParticipantFeatures[] {
  if (Array.isArray(raw)) return raw as LiveParticipantFeatures[];
  const inner = (raw as { participants?: unknown } | null)?.participants;
  return Array.isArray(inner) ? (inner as LiveParticipantFeatures[]) : [];
}

export class Call {
  readonly stats: CallStats = {
    framesSent: 0, bytesSent: 0, framesReceived: 0, bytesReceived: 0, playedMs: 0, acks: 0, lastAckMs: 0, clears: 0, features: 0, transcripts: 0, nudges: 0,
  };
  private ws: WebSocket | null = null;
  private audio: AudioIo | null = null;
  private live = false;
  private ended = false;
  private lastAckKey = '';

  constructor(private readonly h: CallHandlers) {}

  /** Open microphone and speakers, connect with the session token, send session.start. */
  async start(gatewayUrl: string, token: string): Promise<void> {
    this.audio = await openAudio({ onFrame: (f) => this.sendFrame(f), onPlayed: (r) => this.onPlayed(r) });
    const url = `${gatewayUrl}${gatewayUrl.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => this.send({ type: 'session.start', codec: 'pcm16', client: 'switchboard-web' });
    ws.onmessage = (e: MessageEvent<ArrayBuffer | string>) => {
      if (typeof e.data === 'string') this.onEvent(e.data);
      else this.onAudio(e.data);
    };
    ws.onclose = (e) => this.finish(e.reason || (e.code === 1000 ? 'closed' : `connection closed (${e.code})`));
    ws.onerror = () => this.h.onError('NETWORK', 'the gateway connection failed');
  }

  mute(muted: boolean): void {
    this.audio?.mute(muted);
  }

  /** Tell the agent the caller's turn is over now (instead of waiting for silence). */
  commit(): void {
    if (this.live) this.send({ type: 'input.commit' });
  }

  /** Hang up: close the socket (the gateway ends a one-person session when its caller leaves). */
  async hangUp(): Promise<void> {
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000, 'hang up');
    await this.finish('hang up');
  }

  private send(ev: NativeClientEvent): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(ev));
  }

  private sendFrame(frame: ArrayBuffer): void {
    const ws = this.ws;
    if (!this.live || ws === null || ws.readyState !== WebSocket.OPEN || ws.bufferedAmount > MAX_BUFFERED) return;
    ws.send(frame);
    this.stats.framesSent++;
    this.stats.bytesSent += frame.byteLength;
  }

  private onAudio(buf: ArrayBuffer): void {
    this.stats.framesReceived++;
    this.stats.bytesReceived += buf.byteLength;
    this.audio?.play(buf);
  }

  private onPlayed(r: PlaybackReport): void {
    this.stats.playedMs = r.total_ms;
    // one ack per change of (response, played): what actually reached the speaker
    const key = `${r.response}:${r.played_ms}`;
    if (key !== this.lastAckKey && this.live) {
      this.lastAckKey = key;
      this.send({ type: 'playback.ack', played_ms: r.played_ms });
      this.stats.acks++;
      this.stats.lastAckMs = r.played_ms;
    }
    this.h.onStats(this.stats);
  }

  private onEvent(text: string): void {
    let ev: ServerEvent;
    try {
      ev = JSON.parse(text) as ServerEvent;
    } catch {
      return;
    }
    switch (ev.type) {
      case 'session.started':
        this.live = true;
        this.h.onStarted(ev);
        break;
      case 'transcript':
        this.stats.transcripts++;
        this.h.onTranscript(ev);
        break;
      case 'features':
        this.stats.features++;
        this.h.onFeatures({ t_ms: ev.t_ms, participants: participantsOf(ev.participants) });
        break;
      case 'nudge':
        this.stats.nudges++;
        this.h.onNudge(ev as Nudge);
        break;
      case 'playback.clear':
        this.audio?.clear();
        this.stats.clears++;
        break;
      case 'error':
        this.h.onError(ev.code, ev.message);
        break;
      case 'session.ended':
        void this.finish(ev.reason);
        break;
      default:
        break;
    }
    this.h.onStats(this.stats);
  }

  private async finish(reason: string): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.live = false;
    const audio = this.audio;
    this.audio = null;
    await audio?.close().catch(() => {});
    this.h.onEnded(reason);
  }
}
