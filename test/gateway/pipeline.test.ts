import t from 'tap';
import { FormatConverter } from '../../gateway/src/session/format-converter.ts';
import { Playout, type PlayoutTarget } from '../../gateway/src/session/playout.ts';
import { mulawEncode } from '../../gateway/src/audio/g711.ts';
import { FrameHold } from '../../gateway/src/session/frame-hold.ts';
import { FrameRing } from '../../gateway/src/session/frame-ring.ts';

function tone(rate: number, ms: number, hz = 440, amp = 8000): Int16Array {
  const n = (rate * ms) / 1000;
  const x = new Int16Array(n);
  for (let i = 0; i < n; i++) x[i] = Math.round(amp * Math.sin((2 * Math.PI * hz * i) / rate));
  return x;
}

t.test('FormatConverter: same format passes the very same frame through', async (t) => {
  const c = new FormatConverter({ codec: 'pcm16', sampleRate: 24000 }, { codec: 'pcm16', sampleRate: 24000 });
  t.ok(c.passthrough);
  const f = new Uint8Array(960);
  c.push(f);
  t.equal(c.next(), f, 'no copy, no conversion');
  t.equal(c.next(), null);
});

t.test('FormatConverter: μ-law 8 kHz -> PCM16 16 kHz -> μ-law 8 kHz keeps 20 ms framing and the signal', async (t) => {
  const up = new FormatConverter({ codec: 'mulaw', sampleRate: 8000 }, { codec: 'pcm16', sampleRate: 16000 });
  const down = new FormatConverter({ codec: 'pcm16', sampleRate: 16000 }, { codec: 'mulaw', sampleRate: 8000 });
  t.equal(up.outFrameBytes, 640);
  t.equal(down.outFrameBytes, 160);
  const pcm = tone(8000, 1000);
  const mu = new Uint8Array(pcm.length);
  mulawEncode(pcm, mu);
  let framesUp = 0;
  let framesDown = 0;
  const back: number[] = [];
  for (let off = 0; off < mu.length; off += 160) {
    up.push(mu.subarray(off, off + 160));
    for (let f = up.next(); f !== null; f = up.next()) {
      if (f.length !== 640) t.fail(`frame of ${f.length} bytes`);
      framesUp++;
      down.push(f);
      for (let g = down.next(); g !== null; g = down.next()) {
        framesDown++;
        back.push(...g);
      }
    }
  }
  t.ok(framesUp >= 48 && framesUp <= 50, `${framesUp} frames of 20 ms at 16 kHz from 50 in`);
  t.ok(framesDown >= 47 && framesDown <= 50, `${framesDown} frames back at 8 kHz`);
  // the round trip is the same tone (after the filters' delay): compare energy
  const energy = (xs: number[]) => xs.reduce((s, b) => s + (b & 0x7f), 0) / xs.length;
  t.ok(Math.abs(energy(back.slice(800)) - energy([...mu.slice(800, back.length)])) < 8, 'signal survives the round trip');
});

class FakeSocket implements PlayoutTarget {
  written: number[] = [];
  buffered = 0;
  marks: number[] = [];
  writeAudio(frame: Uint8Array): number {
    this.written.push(frame[0]!);
    return 1;
  }
  bufferedAmount(): number {
    return this.buffered;
  }
  afterWrite(responseMs: number): void {
    this.marks.push(responseMs);
  }
}

t.test('Playout: pacing lead, bounded queue dropping the oldest, played time clamped', async (t) => {
  const sock = new FakeSocket();
  const p = new Playout(4, { maxMs: 200, leadMs: 100, highWater: 1000 }, sock);
  const frame = (id: number) => new Uint8Array([id, 0, 0, 0]);
  p.beginResponse();
  for (let i = 0; i < 15; i++) p.enqueue(frame(i));
  t.equal(p.queuedFrames, 10, 'bounded at 200 ms');
  t.equal(p.dropped, 5, 'the 5 oldest dropped and counted');
  p.pump(1000);
  t.same(sock.written, [5, 6, 7, 8, 9], 'only 100 ms ahead of real time is written');
  t.equal(p.responseWrittenMs, 100);
  t.equal(p.playedMs(1000), 0, 'nothing played yet at t=0');
  t.equal(p.playedMs(1050), 50, 'pacing estimate: 50 ms later, 50 ms played');
  p.pump(1040);
  t.same(sock.written, [5, 6, 7, 8, 9, 10, 11], 'two more frames as the playhead moves 40 ms');
  sock.buffered = 5000;
  p.pump(1200);
  t.equal(sock.written.length, 7, 'nothing written while the socket is over its high-water mark');
  sock.buffered = 0;
  p.pump(1200);
  t.equal(sock.written.length, 10);
  p.confirm(60, 1200);
  t.equal(p.playedMs(1210), 70, 'confirmation plus time since');
  t.equal(p.playedMs(5000), 200, 'never more than was written');
  t.ok(p.active(1210));
  t.equal(p.clear(1210), 0);
  t.equal(p.queuedFrames, 0);
});

t.test('FrameHold: keeps the newest maxMs of frames in order, counts what it dropped, releases once', async (t) => {
  const hold = new FrameHold(60); // three 20 ms frames
  for (let i = 1; i <= 5; i++) hold.push(new Uint8Array(4).fill(i));
  t.equal(hold.heldFrames, 3);
  t.equal(hold.dropped, 2, 'the two oldest frames were dropped');
  const out: number[] = [];
  hold.release((f) => out.push(f[0]!, f.length));
  t.same(out, [3, 4, 4, 4, 5, 4], 'frames 3, 4, 5 in order, whole');
  t.equal(hold.heldFrames, 0);
  hold.release(() => t.fail('nothing is released twice'));
  t.throws(() => { hold.push(new Uint8Array(4)); hold.push(new Uint8Array(5)); }, RangeError, 'frames of another length are refused');
});

t.test('FrameRing: a queue that keeps draining reuses one slot; a backlog wraps, grows and stays in order', async (t) => {
  const ring = new FrameRing(4, 2, 4);
  const frame = (v: number) => new Uint8Array(4).fill(v);
  ring.push(frame(1));
  const slot = ring.peek();
  ring.shift();
  for (let i = 2; i < 10; i++) {
    ring.push(frame(i));
    t.equal(ring.peek(), slot, `frame ${i} in the same slot`);
    t.equal(ring.peek()![0], i);
    ring.shift();
  }
  for (let i = 10; i < 16; i++) ring.push(frame(i)); // grows 2 -> 4, then drops the two oldest
  t.equal(ring.dropped, 2);
  const out: number[] = [];
  for (let f = ring.peek(); f !== null; f = ring.peek()) {
    out.push(f[0]!);
    ring.shift();
  }
  t.same(out, [12, 13, 14, 15]);
});
