import t from 'tap';
import {
  ALAW_DECODE_TABLE,
  MULAW_DECODE_TABLE,
  alawDecode,
  alawDecodeSample,
  alawEncode,
  alawEncodeSample,
  mulawDecode,
  mulawDecodeSample,
  mulawEncode,
  mulawEncodeSample,
} from '../../gateway/src/audio/g711.ts';

// Independent straight-line implementations of the PROTOCOLS.md 5.2 decoders (not the module's code).
function mulawRef(byte: number): number {
  const u = ~byte & 0xff;
  const e = (u >> 4) & 7;
  const t = ((((u & 0x0f) << 3) + 0x84) << e) - 0x84;
  return u & 0x80 ? -t : t;
}
function alawRef(byte: number): number {
  const a = byte ^ 0x55;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) t += 8;
  else if (seg === 1) t += 0x108;
  else t = (t + 0x108) << (seg - 1);
  return a & 0x80 ? t : -t;
}
/** CPython audioop's μ-law encoder (floors s >> 2 before biasing), for the "within one step" check. */
function mulawAudioop(s: number): number {
  const BIAS = 0x84 >> 2;
  const CLIP = 8159;
  const segEnd = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff];
  let pcm = s >> 2;
  let mask: number;
  if (pcm < 0) {
    pcm = -pcm;
    mask = 0x7f;
  } else mask = 0xff;
  if (pcm > CLIP) pcm = CLIP;
  pcm += BIAS;
  let seg = 0;
  while (seg < 8 && pcm > segEnd[seg]!) seg++;
  if (seg >= 8) return 0x7f ^ mask;
  return ((seg << 4) | ((pcm >> (seg + 1)) & 0xf)) ^ mask;
}

t.test('all 256 decodes match the reference', async (t) => {
  let bad = 0;
  for (let b = 0; b < 256; b++) {
    if (MULAW_DECODE_TABLE[b] !== mulawRef(b) || mulawDecodeSample(b) !== mulawRef(b)) bad++;
    if (ALAW_DECODE_TABLE[b] !== alawRef(b) || alawDecodeSample(b) !== alawRef(b)) bad++;
  }
  t.equal(bad, 0);
  t.equal(Math.max(...MULAW_DECODE_TABLE), 32124);
  t.equal(Math.min(...MULAW_DECODE_TABLE), -32124);
  t.equal(Math.max(...ALAW_DECODE_TABLE), 32256);
  t.equal(Math.min(...ALAW_DECODE_TABLE), -32256);
});

t.test('PROTOCOLS.md 5.2 vector table', async (t) => {
  const rows: [number, number, number, number, number][] = [
    // input, mulaw, mulaw decoded, alaw, alaw decoded
    [0, 0xff, 0, 0xd5, 8],
    [100, 0xf2, 104, 0xd3, 104],
    [-100, 0x72, -104, 0x53, -104],
    [1000, 0xce, 988, 0xfa, 1008],
    [-1000, 0x4e, -988, 0x7a, -1008],
    [4096, 0xaf, 4092, 0x85, 4224],
    [-4096, 0x2f, -4092, 0x1a, -4032],
    [32767, 0x80, 32124, 0xaa, 32256],
    [-32768, 0x00, -32124, 0x2a, -32256],
  ];
  for (const [s, mu, muDec, a, aDec] of rows) {
    t.equal(mulawEncodeSample(s), mu, `mulaw(${s})`);
    t.equal(mulawDecodeSample(mu), muDec, `mulaw decode 0x${mu.toString(16)}`);
    t.equal(alawEncodeSample(s), a, `alaw(${s})`);
    t.equal(alawDecodeSample(a), aDec, `alaw decode 0x${a.toString(16)}`);
  }
});

t.test('the 1 kHz sine sequence encodes to the published bytes (batch API)', async (t) => {
  const pcm = Int16Array.from([0, 5657, 8000, 5657, 0, -5657, -8000, -5657]);
  const mu = new Uint8Array(8);
  const a = new Uint8Array(8);
  mulawEncode(pcm, mu);
  alawEncode(pcm, a);
  t.equal(Buffer.from(mu).toString('hex'), 'ffa9a0a9ff292029');
  t.equal(Buffer.from(a).toString('hex'), 'd5838a83d5030a03');
  const back = new Int16Array(8);
  mulawDecode(mu, back);
  t.same(Array.from(back), Array.from(mu, mulawRef));
  alawDecode(a, back);
  t.same(Array.from(back), Array.from(a, alawRef));
});

t.test('20 ms of mulaw silence is 160 x 0xFF (216 base64 chars)', async (t) => {
  const out = new Uint8Array(160);
  mulawEncode(new Int16Array(160), out);
  t.ok(out.every((b) => b === 0xff));
  t.equal(Buffer.from(out).toString('base64').length, 216);
});

/** Sun g711.c linear2alaw (the encoders agree on every input per PROTOCOLS.md 5.2). */
function alawSun(sample: number): number {
  const segEnd = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];
  let pcm = sample >> 3;
  let mask: number;
  if (pcm >= 0) mask = 0xd5;
  else {
    mask = 0x55;
    pcm = -pcm - 1;
  }
  let seg = 0;
  while (seg < 8 && pcm > segEnd[seg]!) seg++;
  if (seg >= 8) return 0x7f ^ mask;
  return ((seg << 4) | ((pcm >> (seg < 2 ? 1 : seg)) & 0xf)) ^ mask;
}

t.test('encoders over every int16 input', async (t) => {
  let muDiffer = 0;
  let muBad = 0;
  let aDiffer = 0;
  const pcm = new Int16Array(65536);
  for (let i = 0; i < 65536; i++) pcm[i] = i - 32768;
  const mu = new Uint8Array(65536);
  const a = new Uint8Array(65536);
  mulawEncode(pcm, mu);
  alawEncode(pcm, a);
  for (let i = 0; i < 65536; i++) {
    const s = pcm[i]!;
    if (mu[i] !== mulawEncodeSample(s) || a[i] !== alawEncodeSample(s)) muBad++;
    const ao = mulawAudioop(s);
    if (mu[i] !== ao) {
      muDiffer++;
      // only on negative inputs, and only by one code step (codes are monotonic in the level)
      if (s >= 0 || Math.abs(mu[i]! - ao) !== 1) muBad++;
    }
    if (a[i] !== alawSun(s)) aDiffer++;
  }
  t.equal(muBad, 0, 'mulaw within one step of audioop, negative inputs only; batch == single-sample');
  t.equal(muDiffer, 381, 'exactly the 381 known disagreements with audioop');
  t.equal(aDiffer, 0, 'alaw identical to the Sun encoder on all 65536 inputs');
});
