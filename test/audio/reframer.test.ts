import t from 'tap';
import { Reframer } from '../../gateway/src/audio/reframer.ts';

/** Deterministic PRNG (mulberry32) so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test('random chunk sizes (odd, split samples) give the exact byte stream in whole frames', async (t) => {
  const r = new Reframer({ sampleRate: 24000, bytesPerSample: 2 });
  t.equal(r.frameBytes, 960);
  const rand = rng(7);
  const total = 960 * 50 + 333;
  const stream = new Uint8Array(total);
  for (let i = 0; i < total; i++) stream[i] = (i * 31 + 7) & 0xff;
  const got: number[] = [];
  let off = 0;
  let frames = 0;
  while (off < total) {
    const len = Math.min(total - off, 1 + Math.floor(rand() * 1500));
    r.push(stream.subarray(off, off + len));
    off += len;
    for (let f = r.next(); f !== null; f = r.next()) {
      t.equal(f.length, 960);
      for (const b of f) got.push(b);
      frames++;
    }
  }
  t.equal(frames, 50);
  t.equal(r.dropped, 0);
  const tail = r.flush(false);
  t.equal(tail?.length, 333);
  for (const b of tail!) got.push(b);
  t.same(Buffer.from(got), Buffer.from(stream));
  t.equal(r.flush(false), null, 'empty after flush');
});

t.test('nextPcm16 returns aligned little-endian samples, also when a sample straddles chunks', async (t) => {
  const r = new Reframer({ sampleRate: 8000, bytesPerSample: 2 });
  const samples = new Int16Array(160 * 3);
  for (let i = 0; i < samples.length; i++) samples[i] = (i * 997 - 20000) | 0;
  const bytes = new Uint8Array(samples.buffer);
  // push one byte at a time for the first frame, then odd-length chunks
  for (let i = 0; i < 320; i++) r.push(bytes.subarray(i, i + 1));
  r.push(bytes.subarray(320, 321));
  r.push(bytes.subarray(321, 960));
  const out: number[] = [];
  for (let f = r.nextPcm16(); f !== null; f = r.nextPcm16()) {
    t.equal(f.byteOffset % 2, 0);
    t.equal(f.length, 160);
    out.push(...f);
  }
  t.same(out, Array.from(samples));
});

t.test('flush pads with zeros when asked', async (t) => {
  const r = new Reframer({ sampleRate: 8000, bytesPerSample: 1 });
  t.equal(r.frameBytes, 160);
  r.push(new Uint8Array(100).fill(0x55));
  t.equal(r.next(), null);
  const f = r.flush(true)!;
  t.equal(f.length, 160);
  t.ok(f.subarray(0, 100).every((b) => b === 0x55));
  t.ok(f.subarray(100).every((b) => b === 0));
  t.equal(r.bufferedBytes, 0);
});

t.test('a full ring drops the oldest whole frames and counts them', async (t) => {
  const r = new Reframer({ sampleRate: 8000, bytesPerSample: 1, capacityMs: 100 }); // 5 frames
  t.equal(r.capacityBytes, 800);
  for (let f = 0; f < 8; f++) r.push(new Uint8Array(160).fill(f));
  t.equal(r.dropped, 3 * 160);
  const seen: number[] = [];
  for (let f = r.next(); f !== null; f = r.next()) seen.push(f[0]!);
  t.same(seen, [3, 4, 5, 6, 7], 'newest five frames kept, in order');
  // a single chunk larger than the ring keeps the frame grid and the newest bytes
  const big = new Uint8Array(160 * 7 + 10);
  for (let i = 0; i < big.length; i++) big[i] = Math.floor(i / 160);
  r.push(big);
  const first = r.next()!;
  t.equal(first[0], 3);
  t.equal(r.dropped, 3 * 160 + 3 * 160);
  r.reset();
  t.equal(r.next(), null);
});

t.test('rejects rates that do not give whole-sample frames', async (t) => {
  t.throws(() => new Reframer({ sampleRate: 22050, bytesPerSample: 2, frameMs: 10 }));
});

t.test('steady frame-in, frame-out audio reuses one slot (cache-hot); a backlog still comes out in order', async (t) => {
  const r = new Reframer({ sampleRate: 8000, bytesPerSample: 1, capacityMs: 200 });
  const frame = (v: number) => new Uint8Array(r.frameBytes).fill(v);
  r.push(frame(1));
  const first = r.next();
  for (let i = 2; i < 30; i++) {
    r.push(frame(i));
    const f = r.next();
    t.equal(f, first, `frame ${i} is the same slot view`);
    t.equal(f![0], i, `with frame ${i}'s bytes`);
  }
  // three frames and a half pushed at once: they come out in order, then the half waits
  for (let i = 40; i < 43; i++) r.push(frame(i));
  r.push(new Uint8Array(r.frameBytes / 2).fill(43));
  t.same([r.next()![0], r.next()![0], r.next()![0], r.next()], [40, 41, 42, null]);
  r.push(new Uint8Array(r.frameBytes / 2).fill(43));
  const f = r.next()!;
  t.ok(f.every((b) => b === 43), 'the split frame is whole');
  t.equal(r.bufferedBytes, 0);
});
