import t from 'tap';
import { SILENCE_DBFS, float32ToInt16, int16ToFloat32, levelDbfs, mixSaturating, pcm16leView } from '../../gateway/src/audio/pcm.ts';

t.test('pcm16leView is zero-copy when aligned and copies into scratch when not', async (t) => {
  const buf = new Uint8Array([0x01, 0x00, 0xff, 0xff, 0x00, 0x80, 0xff, 0x7f, 0x99]);
  const v = pcm16leView(buf);
  t.same(Array.from(v), [1, -1, -32768, 32767]);
  t.equal(v.buffer, buf.buffer, 'aligned: a view of the same memory');
  const backing = new Uint8Array(10);
  backing.set(buf, 1);
  const odd = backing.subarray(1);
  const scratch = new Int16Array(8);
  const c = pcm16leView(odd, scratch);
  t.same(Array.from(c), [1, -1, -32768, 32767]);
  t.equal(c.buffer, scratch.buffer, 'misaligned: copied into scratch');
  t.same(Array.from(pcm16leView(odd)), [1, -1, -32768, 32767], 'misaligned without scratch still works');
  t.throws(() => pcm16leView(odd, new Int16Array(2)));
});

t.test('int16 <-> float32 round trip and saturation', async (t) => {
  const src = Int16Array.from([0, 1, -1, 16384, -32768, 32767]);
  const f = new Float32Array(6);
  int16ToFloat32(src, f);
  t.equal(f[3], 0.5);
  t.equal(f[4], -1);
  const back = new Int16Array(6);
  float32ToInt16(f, back);
  t.same(Array.from(back), Array.from(src));
  float32ToInt16(Float32Array.from([2, -2, NaN, 0.00001, -0.00002]), back);
  t.same(Array.from(back.subarray(0, 5)), [32767, -32768, 0, 0, -1]);
});

t.test('levelDbfs', async (t) => {
  t.equal(levelDbfs(new Int16Array(160)), SILENCE_DBFS);
  t.equal(levelDbfs(new Int16Array(0)), SILENCE_DBFS);
  const sq = new Int16Array(160).map((_, i) => (i & 1 ? 16384 : -16384));
  t.ok(Math.abs(levelDbfs(sq) - -6.0206) < 1e-3, 'half-scale square is -6.02 dBFS');
  const sine = new Int16Array(8000).map((_, i) => Math.round(32767 * Math.sin((2 * Math.PI * 1000 * i) / 8000)));
  t.ok(Math.abs(levelDbfs(sine) - -3.0103) < 0.01, 'full-scale sine is -3.01 dBFS');
});

t.test('mixSaturating clamps and counts', async (t) => {
  const a = Int16Array.from([30000, -30000, 100, 5]);
  const b = Int16Array.from([10000, -10000, -50, 6, 99]);
  const out = new Int16Array(4);
  t.equal(mixSaturating(a, b, out), 2);
  t.same(Array.from(out), [32767, -32768, 50, 11]);
  t.equal(mixSaturating(a, b, a), 2, 'in place');
  t.same(Array.from(a), [32767, -32768, 50, 11]);
});
