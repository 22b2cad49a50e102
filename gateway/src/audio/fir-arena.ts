/**
 * One WebAssembly memory and one kernel instance shared by every resampler in the process.
 *
 * Why not one memory per resampler: V8 reserves ~10 GiB of address space per WebAssembly.Memory (guard
 * regions for bounds checks), and creating the ~13,000th memory fails ("could not allocate memory",
 * measured on this box) — a hidden cap on concurrent sessions. Here resamplers get blocks of a shared
 * memory instead: power-of-two size classes (>= 4 KiB) with a free list per class, released explicitly
 * (`Resampler.dispose()`) or by a FinalizationRegistry when a resampler is garbage-collected.
 *
 * Growing the memory detaches every view of it, so users must re-create their views when
 * `memory.buffer` changes (Resampler checks one reference per call) and must never hand a view of this
 * memory to callers (Resampler copies its output into a JS-owned array).
 */
import { instantiateFir, type FirRun } from './fir-kernel.ts';

const PAGE = 65536;
const MIN_BLOCK = 4096;
/** Bytes [0, 8) are where the kernel writes back pos and phase; blocks start after a 64-byte header. */
const HEADER = 64;

export interface ArenaBlock {
  offset: number;
  size: number;
}

export class FirArena {
  readonly memory: WebAssembly.Memory;
  readonly run: FirRun;
  private top: number;
  private readonly free: Map<number, number[]>;
  private stateView: Int32Array;

  constructor(initialPages = 16) {
    this.memory = new WebAssembly.Memory({ initial: initialPages });
    this.run = instantiateFir(this.memory);
    this.top = HEADER;
    this.free = new Map();
    this.stateView = new Int32Array(this.memory.buffer, 0, 2);
  }

  /** The kernel's [pos, phase] write-back slots (re-created after the memory grows). */
  get state(): Int32Array {
    if (this.stateView.buffer !== this.memory.buffer) this.stateView = new Int32Array(this.memory.buffer, 0, 2);
    return this.stateView;
  }

  /** Bytes of the memory in use by blocks (including freed blocks kept for reuse). */
  get usedBytes(): number {
    return this.top;
  }

  alloc(bytes: number): ArenaBlock {
    let size = MIN_BLOCK;
    while (size < bytes) size *= 2;
    const list = this.free.get(size);
    if (list !== undefined && list.length > 0) return { offset: list.pop()!, size };
    const offset = this.top;
    this.top += size;
    const have = this.memory.buffer.byteLength;
    if (this.top > have) {
      // Grow at least geometrically so a burst of new sessions does not grow (and detach) per block.
      const needed = Math.ceil((this.top - have) / PAGE);
      this.memory.grow(Math.max(needed, Math.ceil(have / PAGE / 2)));
    }
    return { offset, size };
  }

  release(block: ArenaBlock): void {
    let list = this.free.get(block.size);
    if (list === undefined) {
      list = [];
      this.free.set(block.size, list);
    }
    list.push(block.offset);
  }
}

let shared: FirArena | null = null;

/** The process-wide arena (created on first use). */
export function firArena(): FirArena {
  if (shared === null) shared = new FirArena();
  return shared;
}
