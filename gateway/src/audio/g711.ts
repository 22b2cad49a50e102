/**
 * G.711 μ-law (PCMU) and A-law (PCMA), table-driven (PROTOCOLS.md 5.2).
 *
 * Decoding is a 256-entry Int16 table per law. Encoding is a table too, built once at import:
 * μ-law uses a 64K table indexed by the raw 16-bit sample (the "bias 0x84 on the 16-bit magnitude"
 * variant truncates, so every one of the 65536 inputs needs its own entry); A-law only looks at
 * `pcm >> 3`, so an 8K table indexed by the 13-bit value is exact. Both tables are 72 KiB in total
 * and turn the per-sample work into one load, which is what keeps a 160-sample frame well under 1 µs
 * (see bench/audio.bench.ts).
 *
 * Caveat (PROTOCOLS.md 5.2): CPython audioop floors `s >> 2` before biasing and so disagrees with this
 * μ-law encoder by one code step on 381 negative inputs (e.g. -1 is 0x7E there, 0x7F here). Decoding is
 * identical. The batch functions take caller-supplied outputs and allocate nothing.
 */

const MULAW_CLIP = 32635;
const MULAW_BIAS = 0x84;

/** Reference (non-table) μ-law encoder, used only to build the table. */
function mulawEncodeRef(sample: number): number {
  let s = sample;
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  if (s > MULAW_CLIP) s = MULAW_CLIP;
  s += MULAW_BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

function mulawDecodeRef(byte: number): number {
  const u = ~byte & 0xff;
  const exponent = (u >> 4) & 0x07;
  const mantissa = u & 0x0f;
  const t = (((mantissa << 3) + MULAW_BIAS) << exponent) - MULAW_BIAS;
  return (u & 0x80) !== 0 ? -t : t;
}

const ALAW_SEG_END = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];

/** Reference A-law encoder (Sun/CCITT g711.c), used only to build the table. */
function alawEncodeRef(sample: number): number {
  let pcm = sample >> 3;
  let mask: number;
  if (pcm >= 0) {
    mask = 0xd5;
  } else {
    mask = 0x55;
    pcm = -pcm - 1;
  }
  let seg = 0;
  while (seg < 8 && pcm > ALAW_SEG_END[seg]!) seg++;
  if (seg >= 8) return 0x7f ^ mask;
  const aval = (seg << 4) | ((pcm >> (seg < 2 ? 1 : seg)) & 0x0f);
  return aval ^ mask;
}

function alawDecodeRef(byte: number): number {
  const a = byte ^ 0x55;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) t += 8;
  else if (seg === 1) t += 0x108;
  else t = (t + 0x108) << (seg - 1);
  return (a & 0x80) !== 0 ? t : -t;
}

const MULAW_DECODE = new Int16Array(256);
const ALAW_DECODE = new Int16Array(256);
for (let b = 0; b < 256; b++) {
  MULAW_DECODE[b] = mulawDecodeRef(b);
  ALAW_DECODE[b] = alawDecodeRef(b);
}

/** Indexed by `sample & 0xffff`. */
const MULAW_ENCODE = new Uint8Array(65536);
for (let i = 0; i < 65536; i++) MULAW_ENCODE[i] = mulawEncodeRef(i >= 32768 ? i - 65536 : i);

/** Indexed by `(sample >> 3) & 0x1fff` (the 13-bit value A-law looks at). */
const ALAW_ENCODE = new Uint8Array(8192);
for (let i = 0; i < 8192; i++) ALAW_ENCODE[i] = alawEncodeRef((i >= 4096 ? i - 8192 : i) << 3);

/** The 256 decoded μ-law values (read-only view; index = code byte). */
export const MULAW_DECODE_TABLE: Readonly<Int16Array> = MULAW_DECODE;
/** The 256 decoded A-law values (read-only view; index = code byte). */
export const ALAW_DECODE_TABLE: Readonly<Int16Array> = ALAW_DECODE;

export function mulawEncodeSample(s: number): number {
  return MULAW_ENCODE[s & 0xffff]!;
}

export function mulawDecodeSample(b: number): number {
  return MULAW_DECODE[b & 0xff]!;
}

export function alawEncodeSample(s: number): number {
  return ALAW_ENCODE[(s >> 3) & 0x1fff]!;
}

export function alawDecodeSample(b: number): number {
  return ALAW_DECODE[b & 0xff]!;
}

/** Encodes `pcm` into `out[0 .. pcm.length)`; `out.length` must be >= `pcm.length`. */
export function mulawEncode(pcm: Int16Array, out: Uint8Array): void {
  const n = pcm.length;
  for (let i = 0; i < n; i++) out[i] = MULAW_ENCODE[pcm[i]! & 0xffff]!;
}

/** Decodes `codes` into `out[0 .. codes.length)`; `out.length` must be >= `codes.length`. */
export function mulawDecode(codes: Uint8Array, out: Int16Array): void {
  const n = codes.length;
  for (let i = 0; i < n; i++) out[i] = MULAW_DECODE[codes[i]!]!;
}

/** Encodes `pcm` into `out[0 .. pcm.length)`; `out.length` must be >= `pcm.length`. */
export function alawEncode(pcm: Int16Array, out: Uint8Array): void {
  const n = pcm.length;
  for (let i = 0; i < n; i++) out[i] = ALAW_ENCODE[(pcm[i]! >> 3) & 0x1fff]!;
}

/** Decodes `codes` into `out[0 .. codes.length)`; `out.length` must be >= `codes.length`. */
export function alawDecode(codes: Uint8Array, out: Int16Array): void {
  const n = codes.length;
  for (let i = 0; i < n; i++) out[i] = ALAW_DECODE[codes[i]!]!;
}
