/**
 * Ordered, loss-free outbox for the gateway's events: `push()` never blocks and never throws, a
 * background flusher hands lines to a sink (Redis XADD) in exactly the order they were pushed.
 *
 * Layout: an ordered list of chunks. Lines go into an in-memory chunk while fewer than `maxMemory`
 * lines are held in memory; beyond that bound they are appended to a spill file (JSONL, written and
 * fdatasync'd once per batch of pushes, rotated every `segmentBytes`). The flusher always delivers
 * from the head chunk, so memory and file chunks interleave without reordering: memory can take new
 * lines again as soon as it drains below the bound, even while older lines still sit on disk.
 *
 * Durability: spilled lines survive a crash; on start, leftover spill files (`<name>-<seq>.jsonl`)
 * become the head of the queue and are delivered before anything pushed by this process. `close()`
 * persists whatever is still in memory to spill files, so a graceful stop during an outage loses
 * nothing. Delivery is at-least-once (a batch whose reply was lost, a segment interrupted by a crash
 * are sent again); every event carries a unique id so consumers apply each once.
 *
 * One outbox per spill directory and name: two processes sharing both would deliver each other's files.
 */
import { mkdirSync, readdirSync, writeFileSync, fsyncSync, openSync, closeSync } from 'node:fs';
import { open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../logger.ts';

export interface OutboxSink {
  /** Deliver `lines` in order; resolve once all are accepted, reject to have the batch retried. */
  deliver(lines: readonly string[]): Promise<void>;
  /** false while the sink is known to be down: the flusher waits instead of trying */
  isReady?(): boolean;
}

export interface OutboxOptions {
  /** directory for spill files (created if missing) */
  dir: string;
  /** spill file prefix; stable across restarts so leftovers are found (not the pod id if that changes) */
  name?: string;
  /** lines held in memory before new ones spill to disk */
  maxMemory?: number;
  /** lines per delivery */
  batchSize?: number;
  /** spill segment size before rotating to a new file */
  segmentBytes?: number;
  /** retry backoff after a failed delivery, doubling from min to max */
  retryMinMs?: number;
  retryMaxMs?: number;
  log: Logger;
}

export interface OutboxStats {
  /** lines accepted by push() in this process */
  accepted: number;
  /** lines handed to the sink successfully (includes leftovers from earlier runs) */
  delivered: number;
  /** lines currently held in memory */
  buffered: number;
  /** lines written to spill files in this process (cumulative) */
  spilled: number;
  /** lines found in leftover spill files at start (counted when loaded) */
  recovered: number;
  /** failed spill writes (lines then stay in memory) */
  spillErrors: number;
  /** failed delivery attempts (each is retried) */
  deliveryFailures: number;
  /** chunks waiting (memory + files); 0 means everything is delivered */
  chunks: number;
}

const DEFAULTS = {
  name: 'outbox',
  // ~10k events of ~300 B = 3 MB of memory before touching the disk: a 10 s Redis restart with
  // 1000 live sessions (ticks every 5 s plus transcripts) stays in memory.
  maxMemory: 10_000,
  // 200 XADDs per MULTI keep one round trip well under the command timeout.
  batchSize: 200,
  segmentBytes: 4 * 1024 * 1024,
  retryMinMs: 100,
  retryMaxMs: 2000,
};

const MEM = 0;
const FILE = 1;

interface MemChunk {
  kind: typeof MEM;
  seq: number;
  lines: string[];
}

interface FileChunk {
  kind: typeof FILE;
  seq: number;
  path: string;
  bytes: number;
  /** no more appends once the flusher reads it or a write failed */
  sealed: boolean;
  /** lines pushed but not yet written */
  pending: string[];
  /** lines whose write failed: delivered from memory after the file's lines */
  unwritten: string[];
  writing: Promise<void> | null;
  fh: FileHandle | null;
  /** set when the flusher loads the segment: its lines and the delivery position */
  loaded: string[] | null;
  pos: number;
}

type Chunk = MemChunk | FileChunk;

export class Outbox {
  private readonly dir: string;
  private readonly name: string;
  private readonly maxMemory: number;
  private readonly batchSize: number;
  private readonly segmentBytes: number;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly log: Logger;
  private readonly chunks: Chunk[] = [];
  private readonly fileRe: RegExp;
  private sink: OutboxSink | null = null;
  private seq = 0;
  private memCount = 0;
  private readonly counters = { accepted: 0, delivered: 0, spilled: 0, recovered: 0, spillErrors: 0, deliveryFailures: 0 };
  private running: Promise<void> | null = null;
  private stopping = false;
  private closed = false;
  private wake: (() => void) | null = null;
  /** the flusher is waiting for work (not backing off) */
  private idle = false;
  private wakeTimer: NodeJS.Timeout | null = null;
  private idleWaiters: Array<() => void> = [];

  constructor(opts: OutboxOptions) {
    this.dir = opts.dir;
    this.name = opts.name ?? DEFAULTS.name;
    this.maxMemory = opts.maxMemory ?? DEFAULTS.maxMemory;
    this.batchSize = opts.batchSize ?? DEFAULTS.batchSize;
    this.segmentBytes = opts.segmentBytes ?? DEFAULTS.segmentBytes;
    this.retryMinMs = opts.retryMinMs ?? DEFAULTS.retryMinMs;
    this.retryMaxMs = opts.retryMaxMs ?? DEFAULTS.retryMaxMs;
    this.log = opts.log.child({ component: 'outbox' });
    this.fileRe = new RegExp(`^${escapeRe(this.name)}-(\\d{12})\\.jsonl$`);
    // Synchronous on purpose: leftovers must be at the head of the queue before the first push().
    mkdirSync(this.dir, { recursive: true });
    const leftovers = readdirSync(this.dir)
      .map((f) => this.fileRe.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    for (const seq of leftovers) {
      const chunk = this.newFileChunk(seq);
      chunk.sealed = true;
      this.chunks.push(chunk);
    }
    this.seq = leftovers.length > 0 ? leftovers[leftovers.length - 1]! + 1 : 0;
    if (leftovers.length > 0) this.log.info({ files: leftovers.length }, 'leftover spill files queued for delivery first');
  }

  /** Start delivering to `sink` (once). */
  start(sink: OutboxSink): void {
    if (this.running) return;
    this.sink = sink;
    this.running = this.run();
  }

  /** Accept one line for delivery. Never throws, never waits on I/O. */
  push(line: string): void {
    this.counters.accepted++;
    if (this.closed) {
      this.appendAfterClose(line);
      return;
    }
    const last = this.chunks.length > 0 ? this.chunks[this.chunks.length - 1]! : null;
    if (this.memCount < this.maxMemory) {
      if (last !== null && last.kind === MEM) last.lines.push(line);
      else this.chunks.push({ kind: MEM, seq: this.seq++, lines: [line] });
      this.memCount++;
    } else {
      let f: FileChunk;
      if (last !== null && last.kind === FILE && !last.sealed && last.bytes < this.segmentBytes) f = last;
      else {
        f = this.newFileChunk(this.seq++);
        this.chunks.push(f);
      }
      f.pending.push(line);
      f.bytes += line.length + 1;
      if (f.writing === null) f.writing = this.writeLoop(f);
    }
    // Only an idle flusher is woken here: one backing off from a failed delivery keeps its backoff.
    if (this.idle) this.poke();
  }

  /** Wake the flusher now (e.g. the sink just reconnected) instead of at the end of its backoff. */
  poke(): void {
    const w = this.wake;
    if (w) {
      this.wake = null;
      w();
    }
  }

  stats(): OutboxStats {
    return { ...this.counters, buffered: this.memCount, chunks: this.chunks.length };
  }

  /** true when everything accepted (and every leftover) has been delivered */
  get empty(): boolean {
    return this.chunks.length === 0;
  }

  /** Resolve true once everything is delivered, false after `timeoutMs` (for drain on SIGTERM). */
  flush(timeoutMs: number): Promise<boolean> {
    if (this.chunks.length === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const onIdle = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== onIdle);
        resolve(false);
      }, timeoutMs);
      this.idleWaiters.push(onIdle);
    });
  }

  /**
   * Stop the flusher after its in-flight batch and persist everything undelivered to spill files
   * (in order), so the next start delivers it first.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.stopping = true;
    this.poke();
    if (this.running) await this.running;
    this.closed = true;
    let persisted = 0;
    for (const chunk of this.chunks) {
      try {
        persisted += await this.persist(chunk);
      } catch (err) {
        this.log.error({ err, seq: chunk.seq }, 'could not persist undelivered events at close');
      }
    }
    this.chunks.length = 0;
    this.memCount = 0;
    if (persisted > 0) this.log.warn({ events: persisted }, 'undelivered events persisted to spill files');
  }

  private newFileChunk(seq: number): FileChunk {
    return {
      kind: FILE, seq, path: join(this.dir, spillFileName(this.name, seq)), bytes: 0,
      sealed: false, pending: [], unwritten: [], writing: null, fh: null, loaded: null, pos: 0,
    };
  }

  /** Append a chunk's pending lines in batches: one write + one fdatasync per batch. */
  private async writeLoop(f: FileChunk): Promise<void> {
    try {
      while (f.pending.length > 0) {
        const lines = f.pending;
        f.pending = [];
        try {
          if (f.fh === null) f.fh = await open(f.path, 'a');
          await f.fh.write(lines.join('\n') + '\n');
          await f.fh.datasync();
          this.counters.spilled += lines.length;
        } catch (err) {
          // Keep the lines in memory, after what did reach the file; later lines must not land in
          // this file behind them, so the chunk takes no more appends.
          this.counters.spillErrors++;
          this.log.error({ err, lines: lines.length }, 'spill write failed; events kept in memory');
          f.sealed = true;
          for (const l of lines) f.unwritten.push(l);
          for (const l of f.pending) f.unwritten.push(l);
          f.pending = [];
        }
      }
    } finally {
      f.writing = null;
    }
  }

  private async run(): Promise<void> {
    let backoff = this.retryMinMs;
    while (!this.stopping) {
      const head = this.chunks[0];
      if (head === undefined) {
        this.notifyIdle();
        this.idle = true;
        await this.sleep(0);
        this.idle = false;
        continue;
      }
      let batch: string[];
      if (head.kind === MEM) {
        if (head.lines.length === 0) {
          this.chunks.shift();
          continue;
        }
        batch = head.lines.slice(0, this.batchSize);
      } else {
        if (head.loaded === null) await this.load(head);
        if (head.pos >= head.loaded!.length) {
          await this.discard(head);
          this.chunks.shift();
          continue;
        }
        batch = head.loaded!.slice(head.pos, head.pos + this.batchSize);
      }
      if (this.sink!.isReady && !this.sink!.isReady()) {
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, this.retryMaxMs);
        continue;
      }
      try {
        await this.sink!.deliver(batch);
      } catch (err) {
        this.counters.deliveryFailures++;
        if (this.counters.deliveryFailures % 50 === 1) this.log.warn({ err, failures: this.counters.deliveryFailures }, 'event delivery failed; retrying');
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, this.retryMaxMs);
        continue;
      }
      backoff = this.retryMinMs;
      this.counters.delivered += batch.length;
      if (head.kind === MEM) {
        head.lines.splice(0, batch.length);
        this.memCount -= batch.length;
        if (head.lines.length === 0) this.chunks.shift();
      } else {
        head.pos += batch.length;
      }
    }
  }

  /** Seal a file chunk, wait for its writes, and read its lines (plus any that failed to write). */
  private async load(f: FileChunk): Promise<void> {
    f.sealed = true;
    while (f.writing) await f.writing;
    if (f.fh) {
      await f.fh.close().catch(() => undefined);
      f.fh = null;
    }
    let lines: string[] = [];
    try {
      const text = await readFile(f.path, 'utf8');
      lines = text.split('\n');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.error({ err, path: f.path }, 'spill file unreadable');
    }
    const valid: string[] = [];
    for (const l of lines) {
      if (l.length === 0) continue;
      // A crash mid-write can leave a torn last line; it was never acknowledged to anyone.
      if (!isJson(l)) {
        this.log.warn({ path: f.path, bytes: l.length }, 'torn spill line skipped');
        continue;
      }
      valid.push(l);
    }
    if (f.bytes === 0) this.counters.recovered += valid.length;
    for (const l of f.unwritten) valid.push(l);
    f.unwritten = [];
    f.loaded = valid;
    f.pos = 0;
  }

  private async discard(f: FileChunk): Promise<void> {
    await unlink(f.path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') this.log.error({ err, path: f.path }, 'could not remove delivered spill file');
    });
  }

  /** Write a chunk's undelivered lines to its spill file at close; returns how many. */
  private async persist(chunk: Chunk): Promise<number> {
    if (chunk.kind === MEM) {
      if (chunk.lines.length === 0) return 0;
      const path = this.newFileChunk(chunk.seq).path;
      await writeDurable(path, chunk.lines);
      return chunk.lines.length;
    }
    while (chunk.writing) await chunk.writing;
    if (chunk.fh) {
      await chunk.fh.close().catch(() => undefined);
      chunk.fh = null;
    }
    if (chunk.loaded !== null) {
      // Rewrite without the part already delivered, so a restart does not send it twice.
      const rest = chunk.loaded.slice(chunk.pos);
      if (rest.length === 0) {
        await this.discard(chunk);
        return 0;
      }
      const tmp = `${chunk.path}.tmp`;
      await writeDurable(tmp, rest);
      await rename(tmp, chunk.path);
      return rest.length;
    }
    if (chunk.unwritten.length > 0) {
      const fh = await open(chunk.path, 'a');
      try {
        await fh.write(chunk.unwritten.join('\n') + '\n');
        await fh.datasync();
      } finally {
        await fh.close();
      }
      return chunk.unwritten.length;
    }
    return 0;
  }

  /** After close() there is no flusher: append straight to a new spill file, synchronously. */
  private appendAfterClose(line: string): void {
    const path = this.newFileChunk(this.seq++).path;
    try {
      const fd = openSync(path, 'a');
      try {
        writeFileSync(fd, line + '\n');
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      this.log.error({ err }, 'event pushed after close could not be persisted');
    }
  }

  private notifyIdle(): void {
    if (this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Sleep `ms` (0 = until poked); poke() and close() end it early. */
  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        if (this.wakeTimer) clearTimeout(this.wakeTimer);
        this.wakeTimer = null;
        this.wake = null;
        resolve();
      };
      this.wake = done;
      if (ms > 0) this.wakeTimer = setTimeout(done, ms);
    });
  }
}

async function writeDurable(path: string, lines: readonly string[]): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.write(lines.join('\n') + '\n');
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

function isJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Spill file name for segment `seq` (tests inspect the spill directory with it). */
export function spillFileName(name: string, seq: number): string {
  return `${name}-${String(seq).padStart(12, '0')}.jsonl`;
}
