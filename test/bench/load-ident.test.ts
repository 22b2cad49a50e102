/**
 * How bench:load recognises returned frames (bench/lib/load-ident.ts): which paths keep the bytes,
 * and, where the gateway resamples, that the predicted ring matches what the gateway's own
 * conversion chain returns for a caller starting anywhere in the corpus (wrap included), and that
 * matching finds each frame, skips a gap, and never takes a frame for another.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { readWav, resampleClip } from '../../gateway/src/audio/wav.ts';
import { mulawEncode } from '../../gateway/src/audio/g711.ts';
import { FormatConverter } from '../../gateway/src/session/format-converter.ts';
import type { AudioFormat } from '../../gateway/src/providers/types.ts';
import { describePath, identifyByContent, identModeOf, returnedRing, type PathFormats } from '../../bench/lib/load-ident.ts';

const corpus = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/corpus');
const PCM24: AudioFormat = { codec: 'pcm16', sampleRate: 24000 };
const PCM16K: AudioFormat = { codec: 'pcm16', sampleRate: 16000 };
const MULAW: AudioFormat = { codec: 'mulaw', sampleRate: 8000 };

/** 6 s of corpus speech in the client format, as the load client sends it */
function clientAudio(f: AudioFormat): { audio: Uint8Array; frameBytes: number } {
  const pcm = readWav(readFileSync(path.join(corpus, 'conv00', 'a.wav')), 24000).subarray(0, 24000 * 6);
  if (f.codec === 'pcm16') return { audio: new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength), frameBytes: 960 };
  const pcm8 = resampleClip(pcm, 24000, 8000);
  const mu = new Uint8Array(pcm8.length);
  mulawEncode(pcm8, mu);
  return { audio: mu, frameBytes: 160 };
}

/**
 * What one gateway session returns for a caller starting at corpus frame `start`: fresh converters
 * both ways, the loopback provider echoing, frames in `dropped` (by seq) lost before the provider.
 */
function gatewayReturns(audio: Uint8Array, frameBytes: number, p: PathFormats, start: number, frames: number, dropped: Set<number>): Array<{ seq: number; bytes: Buffer }> {
  const n = Math.floor(audio.length / frameBytes);
  const toProvider = new FormatConverter(p.client, p.providerIn);
  const back = new FormatConverter(p.providerOut, p.client);
  const out: Array<{ seq: number; bytes: Buffer }> = [];
  for (let seq = 0; seq < frames; seq++) {
    const j = (start + seq) % n;
    toProvider.push(audio.subarray(j * frameBytes, (j + 1) * frameBytes));
    for (let g = toProvider.next(); g !== null; g = toProvider.next()) {
      if (dropped.has(seq)) continue;
      back.push(g);
      for (let h = back.next(); h !== null; h = back.next()) out.push({ seq, bytes: Buffer.from(h) });
    }
  }
  return out;
}

t.test('bytes pass through only where no format differs', async (t) => {
  t.equal(identModeOf({ client: PCM24, providerIn: PCM24, providerOut: PCM24 }), 'stamp', 'native + openai / echo');
  t.equal(identModeOf({ client: MULAW, providerIn: MULAW, providerOut: MULAW }), 'stamp', 'twilio + openai: μ-law passthrough');
  t.equal(identModeOf({ client: PCM24, providerIn: PCM16K, providerOut: PCM16K }), 'content', 'native + elevenlabs');
  t.equal(identModeOf({ client: MULAW, providerIn: PCM16K, providerOut: PCM16K }), 'content', 'twilio + elevenlabs');
  t.match(describePath({ client: PCM24, providerIn: PCM16K, providerOut: PCM16K }), /resample 24k->16k.*resample 16k->24k/);
  t.match(describePath({ client: MULAW, providerIn: MULAW, providerOut: MULAW }), /\[passthrough\].*\[passthrough\]/);
  t.throws(() => returnedRing(new Uint8Array(9600), 960, { client: PCM24, providerIn: PCM16K, providerOut: PCM24 }), /must be the same/);
});

for (const [name, client] of [['native', PCM24], ['twilio', MULAW]] as const) {
  t.test(`${name} + elevenlabs (pcm_16000): the ring predicts every returned frame after the first two`, async (t) => {
    const p: PathFormats = { client, providerIn: PCM16K, providerOut: PCM16K };
    const { audio, frameBytes } = clientAudio(client);
    const ring = returnedRing(audio, frameBytes, p);
    const n = ring.length / frameBytes;
    t.equal(n, 300);
    // starts near the end, so the caller wraps to corpus frame 0 mid-stream
    for (const start of [0, 137, n - 40]) {
      const back = gatewayReturns(audio, frameBytes, p, start, 120, new Set());
      t.equal(back.length, 120, 'one frame back per frame sent');
      let predicted = 0;
      for (const { seq, bytes } of back) {
        const at = ((start + seq) % n) * frameBytes;
        if (seq >= 2 && bytes.compare(ring, at, at + frameBytes) === 0) predicted++;
      }
      t.equal(predicted, 118, `start ${start}: frames 2.. are byte-exact`);
      const sentAt = ((start + 60) % n) * frameBytes;
      t.not(back[60]!.bytes.compare(audio, sentAt, sentAt + frameBytes), 0, 'and are not the bytes sent');
    }
  });
}

t.test('identification: in order, across a gap, never another frame', async (t) => {
  const p: PathFormats = { client: PCM24, providerIn: PCM16K, providerOut: PCM16K };
  const { audio, frameBytes } = clientAudio(PCM24);
  const ring = returnedRing(audio, frameBytes, p);
  const start = 50;
  // frames 0-9 lost (provider not yet connected), 70-72 lost mid-call
  const dropped = new Set([...Array.from({ length: 10 }, (_, i) => i), 70, 71, 72]);
  const back = gatewayReturns(audio, frameBytes, p, start, 150, dropped);
  let next = 0;
  const found: number[] = [];
  const wrong: number[] = [];
  for (const { seq, bytes } of back) {
    const id = identifyByContent(ring, frameBytes, start, next, 150, bytes);
    if (id < 0) continue;
    if (id !== seq) wrong.push(seq);
    found.push(id);
    next = id + 1;
  }
  t.same(wrong, [], 'no frame taken for another');
  // after each gap the first frame back has the frames before the gap in the return leg's filter
  const missed = back.map((b) => b.seq).filter((s) => !found.includes(s));
  t.same(missed, [10, 73], 'only the frame right after a gap is unrecognised');
  t.equal(found.length, back.length - 2);
  // another caller's frames (a different start) are never recognised as this caller's
  const other = gatewayReturns(audio, frameBytes, p, 200, 40, new Set());
  t.equal(other.slice(2).filter(({ bytes }) => identifyByContent(ring, frameBytes, start, 0, 150, bytes) >= 0).length, 0);
  t.equal(identifyByContent(ring, frameBytes, start, 0, 150, Buffer.alloc(10)), -1, 'wrong length');
});
