/**
 * One connected participant of a session: its inbound chain (reframe -> convert to the provider's
 * input format) and its outbound chain (reframe provider audio -> convert to the client's format ->
 * playout queue). Every buffer is sized here, once per connection.
 */
import { Reframer } from '../audio/reframer.ts';
import { bytesPerSample, type AudioFormat } from '../providers/types.ts';
import { FormatConverter } from './format-converter.ts';
import { Playout, type PlayoutTarget } from './playout.ts';
import type { ClientChannel } from './types.ts';
import type { TransportCounters } from '../metrics.ts';

export interface PlayoutOptions {
  maxMs: number;
  leadMs: number;
  highWater: number;
}

export class Participant implements PlayoutTarget {
  readonly id: string;
  readonly channel: ClientChannel;
  readonly counters: TransportCounters;
  /** caller audio, client format -> 20 ms frames */
  readonly inReframer: Reframer;
  /** 20 ms client frames -> provider input frames */
  readonly inConv: FormatConverter;
  /** provider audio of any length -> 20 ms provider-format frames */
  readonly outReframer: Reframer;
  /** provider frames -> client frames */
  readonly outConv: FormatConverter;
  readonly playout: Playout;
  /** client frames -> analyzer PCM16 (null without an analyzer) */
  toAnalyzer: FormatConverter | null;
  analyzerIndex: number;
  /** for mixing a second human into the provider input: the latest provider-format frame */
  readonly mixSlot: Int16Array;
  mixReady: boolean;
  framesIn: number;
  private readonly padFrame: Uint8Array;
  /** μ-law and A-law silence are not zero bytes */
  private readonly silenceByte: number;
  /** called for every agent frame written to this participant's socket, with when it will play */
  onAgentFrame: ((frame: Uint8Array, playAt: number) => void) | null;

  constructor(id: string, channel: ClientChannel, providerIn: AudioFormat, providerOut: AudioFormat, counters: TransportCounters, opts: PlayoutOptions) {
    this.id = id;
    this.channel = channel;
    this.counters = counters;
    const client = channel.format;
    this.inReframer = new Reframer({ sampleRate: client.sampleRate, bytesPerSample: bytesPerSample(client), capacityMs: 1000 });
    this.inConv = new FormatConverter(client, providerIn);
    // Providers burst whole replies faster than real time; this only holds less than one frame between
    // calls since every whole frame moves on to the playout queue at once.
    this.outReframer = new Reframer({ sampleRate: providerOut.sampleRate, bytesPerSample: bytesPerSample(providerOut), capacityMs: 2000 });
    this.outConv = new FormatConverter(providerOut, client);
    this.playout = new Playout(this.outConv.outFrameBytes, opts, this);
    this.toAnalyzer = null;
    this.analyzerIndex = -1;
    this.mixSlot = new Int16Array(providerIn.codec === 'pcm16' ? (providerIn.sampleRate * 20) / 1000 : 0);
    this.mixReady = false;
    this.framesIn = 0;
    this.padFrame = new Uint8Array(this.outReframer.frameBytes);
    this.silenceByte = providerOut.codec === 'mulaw' ? 0xff : providerOut.codec === 'alaw' ? 0xd5 : 0;
    this.onAgentFrame = null;
  }

  // PlayoutTarget
  writeAudio(frame: Uint8Array, playAt: number): number {
    const status = this.channel.writeAudio(frame);
    this.counters.framesOut.inc();
    this.counters.bytesOut.inc(frame.length);
    if (this.onAgentFrame !== null) this.onAgentFrame(frame, playAt);
    return status;
  }

  bufferedAmount(): number {
    return this.channel.bufferedAmount();
  }

  afterWrite(responseMs: number, queueEmpty: boolean): void {
    this.channel.afterAudioWritten(responseMs, queueEmpty);
  }

  /** enqueue provider audio (any length, provider format); returns frames dropped by the bound */
  enqueueAgentAudio(bytes: Uint8Array): number {
    const before = this.playout.dropped;
    this.outReframer.push(bytes);
    for (let f = this.outReframer.next(); f !== null; f = this.outReframer.next()) this.enqueueProviderFrame(f);
    return this.playout.dropped - before;
  }

  /** end of a response: the partial last frame is padded with silence and queued */
  flushAgentAudio(): void {
    const tail = this.outReframer.flush(false);
    if (tail === null || tail.length === 0) return;
    if (tail.length === this.outReframer.frameBytes) {
      this.enqueueProviderFrame(tail);
      return;
    }
    const pad = this.padFrame;
    pad.fill(this.silenceByte);
    pad.set(tail);
    this.enqueueProviderFrame(pad);
  }

  /** barge-in: nothing of the interrupted response may still come out */
  clearAgentAudio(now: number): number {
    this.outReframer.reset();
    this.outConv.reset();
    return this.playout.clear(now);
  }

  private enqueueProviderFrame(f: Uint8Array): void {
    this.outConv.push(f);
    for (let g = this.outConv.next(); g !== null; g = this.outConv.next()) this.playout.enqueue(g);
  }
}
