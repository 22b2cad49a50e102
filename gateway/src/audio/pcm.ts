/**
 * PCM16 helpers: little-endian byte views, Int16 <-> Float32, level, saturating mix.
 *
 * Everything here writes into caller-supplied arrays or returns views; nothing allocates per call
 * except `pcm16leView` on a misaligned input without a scratch buffer (documented below).
 */

/** True when this platform stores Int16Array elements little-endian (every platform Node ships on). */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * An Int16Array over PCM16 little-endian bytes. Zero-copy when `bytes.byteOffset` is even; otherwise
 * the samples are copied into `scratch` (which must hold `bytes.length >> 1` samples) and a view of it
 * is returned. Without `scratch`, a misaligned input allocates a new array (avoid on hot paths: pass a
 * preallocated scratch). A trailing odd byte is ignored. The result aliases `bytes` or `scratch`:
 * valid until either is reused.
 */
export function pcm16leView(bytes: Uint8Array, scratch?: Int16Array): Int16Array {
  const n = bytes.length >> 1;
  if ((bytes.byteOffset & 1) === 0 && LITTLE_ENDIAN) {
    return new Int16Array(bytes.buffer, bytes.byteOffset, n);
  }
  const out = scratch !== undefined ? scratch.subarray(0, n) : new Int16Array(n);
  if (out.length < n) throw new RangeError(`pcm16leView: scratch holds ${scratch?.length ?? 0} samples, needs ${n}`);
  for (let i = 0, j = 0; i < n; i++, j += 2) {
    const v = bytes[j]! | (bytes[j + 1]! << 8);
    out[i] = v; // Int16Array store wraps 0x8000..0xffff to negative
  }
  return out;
}

/** `dst[i] = src[i] / 32768` for every sample of `src`; `dst.length` must be >= `src.length`. */
export function int16ToFloat32(src: Int16Array, dst: Float32Array): void {
  const n = src.length;
  const k = 1 / 32768;
  for (let i = 0; i < n; i++) dst[i] = src[i]! * k;
}

/**
 * `dst[i] = round(src[i] * 32768)`, saturated to [-32768, 32767]; NaN becomes 0.
 * `dst.length` must be >= `src.length`.
 */
export function float32ToInt16(src: Float32Array, dst: Int16Array): void {
  const n = src.length;
  for (let i = 0; i < n; i++) {
    let v = src[i]! * 32768;
    if (v >= 32767) v = 32767;
    else if (v <= -32768) v = -32768;
    else if (v !== v) v = 0;
    // floor(v + 0.5) via a truncating |0 on a value shifted to be non-negative.
    dst[i] = ((v + 32768.5) | 0) - 32768;
  }
}

/** The floor returned for digital silence (an RMS of 0 would be -Infinity dBFS). */
export const SILENCE_DBFS = -120;

/**
 * RMS level in dBFS, where a full-scale square wave (±32768) is 0 dBFS and a full-scale sine is about
 * -3 dBFS. Clamped at `SILENCE_DBFS` (also for an empty input).
 */
export function levelDbfs(samples: Int16Array): number {
  const n = samples.length;
  if (n === 0) return SILENCE_DBFS;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = samples[i]!;
    sum += v * v;
  }
  if (sum === 0) return SILENCE_DBFS;
  const db = 10 * Math.log10(sum / n / (32768 * 32768));
  return db < SILENCE_DBFS ? SILENCE_DBFS : db;
}

/**
 * `out[i] = clamp(a[i] + b[i])` over the shorter of `a` and `b`; `out` may alias `a` or `b`.
 * Returns the number of samples that saturated (useful as a clipping counter).
 */
export function mixSaturating(a: Int16Array, b: Int16Array, out: Int16Array): number {
  const n = a.length < b.length ? a.length : b.length;
  let clipped = 0;
  for (let i = 0; i < n; i++) {
    let v = a[i]! + b[i]!;
    if (v > 32767) {
      v = 32767;
      clipped++;
    } else if (v < -32768) {
      v = -32768;
      clipped++;
    }
    out[i] = v;
  }
  return clipped;
}
