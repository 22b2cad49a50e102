/**
 * Audio graph of a call: microphone -> capture worklet (PCM16 24 kHz frames out), and agent audio
 * -> playback worklet (jitter buffer) -> speakers. The context runs at the device's rate; both
 * worklets convert to and from the native protocol's 24 kHz.
 */
import type { PlaybackReport } from './playback-worklet.ts';

export interface AudioIo {
  readonly context: AudioContext;
  /** agent audio (PCM16LE 24 kHz); the buffer is transferred to the worklet */
  play(pcm: ArrayBuffer): void;
  /** drop everything queued (barge-in) */
  clear(): void;
  mute(muted: boolean): void;
  close(): Promise<void>;
}

export interface AudioCallbacks {
  /** one 20 ms PCM16LE 24 kHz frame of microphone audio */
  onFrame(frame: ArrayBuffer): void;
  onPlayed(report: PlaybackReport): void;
}

/** Open the microphone and the speakers. Throws a readable Error when the microphone is refused. */
export async function openAudio(cb: AudioCallbacks, base = '/app'): Promise<AudioIo> {
  let stream: MediaStream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
  } catch (e) {
    throw new Error(`microphone unavailable: ${(e as Error).message}`);
  }
  const context = new AudioContext({ latencyHint: 'interactive' });
  try {
    await context.audioWorklet.addModule(`${base}/capture-worklet.js`);
    await context.audioWorklet.addModule(`${base}/playback-worklet.js`);
    const source = context.createMediaStreamSource(stream);
    const capture = new AudioWorkletNode(context, 'switchboard-capture', { numberOfInputs: 1, numberOfOutputs: 0, channelCount: 1, channelCountMode: 'explicit' });
    const playback = new AudioWorkletNode(context, 'switchboard-playback', { numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [1] });
    capture.port.onmessage = (e: MessageEvent<ArrayBuffer>) => cb.onFrame(e.data);
    playback.port.onmessage = (e: MessageEvent<PlaybackReport>) => cb.onPlayed(e.data);
    source.connect(capture);
    playback.connect(context.destination);
    if (context.state === 'suspended') await context.resume();
    return {
      context,
      play: (pcm) => playback.port.postMessage(pcm, [pcm]),
      clear: () => playback.port.postMessage({ type: 'clear' }),
      mute: (muted) => capture.port.postMessage({ type: 'mute', muted }),
      async close() {
        for (const t of stream.getTracks()) t.stop();
        source.disconnect();
        playback.disconnect();
        await context.close();
      },
    };
  } catch (e) {
    for (const t of stream.getTracks()) t.stop();
    await context.close();
    throw e;
  }
}
