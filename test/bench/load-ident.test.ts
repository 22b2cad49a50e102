/**
 * How bench:load recognises returned frames (bench/lib/load-ident.ts): which paths keep the bytes,
 * and, where the gateway resamples, that the predicted ring matches what the gateway's own
 * conversion chain returns for a caller starting anywhere in the corpus (wrap included), and that
 * matching finds each frame, skips a gap (in speech or in the corpus' digital silence), and never
 * takes a frame for another.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { FormatConverter } from '../../gateway/src/session/format-converter.ts';
import type { AudioFormat } from '../../gateway/src/providers/types.ts';
import { callerAudio, describePath, identifyByContent, identModeOf, returnedRing, type PathFormats } from '../../bench/lib/load-ident.ts';

const corpus = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/corpus');
const PCM24: AudioFormat = { codec: 'pcm16', sampleRate: 24000 };
const PCM16K: AudioFormat = { codec: 'pcm16', sampleRate: 16000 };
const MULAW: AudioFormat = { codec: 'mulaw', sampleRate: 8000 };

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
    const { bytes: audio, frameBytes } = callerAudio(corpus, name, true);
    const ring = returnedRing(audio, frameBytes, p);
    const n = ring.length / frameBytes;
    t.ok(n > 1000, `${n} frames`);
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
  const { bytes: audio, frameBytes } = callerAudio(corpus, 'native', true);
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

/** the returned frames identified in order as the load client does; the seqs it assigned */
function identifyAll(ring: Buffer, frameBytes: number, start: number, sent: number, back: Array<{ seq: number; bytes: Buffer }>): Array<{ seq: number; id: number }> {
  let next = 0;
  const out: Array<{ seq: number; id: number }> = [];
  for (const { seq, bytes } of back) {
    const id = identifyByContent(ring, frameBytes, start, next, sent, bytes);
    if (id < 0) continue;
    out.push({ seq, id });
    next = id + 1;
  }
  return out;
}

t.test('a gap inside digital silence: the dither keeps identification exact', async (t) => {
  const p: PathFormats = { client: PCM24, providerIn: PCM16K, providerOut: PCM16K };
  const plain = callerAudio(corpus, 'native', false);
  const fb = plain.frameBytes;
  const n = Math.floor(plain.bytes.length / fb);
  const silent = (j: number): boolean => plain.bytes.subarray(j * fb, (j + 1) * fb).every((b) => b === 0);
  // a caller that starts in a long silence that speech ends
  let start = -1;
  for (let j = 0; j + 60 < n && start < 0; j++) {
    let run = 0;
    while (run < 60 && silent(j + run)) run++;
    if (run >= 40 && run < 60) start = j;
    else j += run;
  }
  t.ok(start >= 0, 'the corpus has silence followed by speech');
  const dropped = new Set(Array.from({ length: 10 }, (_, i) => i)); // provider still connecting
  // without the dither, the silent frames after the gap are taken for the ones lost in it
  const ringPlain = returnedRing(plain.bytes, fb, p);
  const wrongPlain = identifyAll(ringPlain, fb, start, 100, gatewayReturns(plain.bytes, fb, p, start, 100, dropped)).filter((f) => f.id !== f.seq);
  t.ok(wrongPlain.length >= 30, `undithered: ${wrongPlain.length} frames misidentified`);
  const dithered = callerAudio(corpus, 'native', true);
  const ring = returnedRing(dithered.bytes, fb, p);
  const back = gatewayReturns(dithered.bytes, fb, p, start, 100, dropped);
  const ids = identifyAll(ring, fb, start, 100, back);
  t.same(ids.filter((f) => f.id !== f.seq), [], 'dithered: every frame identified as itself');
  t.equal(ids.length, back.length - 1, 'all but the first frame after the gap');
});

t.test('twilio: the dither survives μ-law, so silent frames are unique too', async (t) => {
  const { bytes, frameBytes } = callerAudio(corpus, 'twilio', true);
  const n = Math.floor(bytes.length / frameBytes);
  const seen = new Set<string>();
  for (let j = 0; j < n; j++) seen.add(Buffer.from(bytes.subarray(j * frameBytes, (j + 1) * frameBytes)).toString('base64'));
  t.equal(seen.size, n, 'no two frames alike');
});
