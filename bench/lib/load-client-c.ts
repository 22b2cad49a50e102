/**
 * The C load generator (bench/lib/loadgen.c) behind the same interface as startClient(): the same
 * callers as load-client.ts in `stamp` mode at a fraction of the CPU per frame, so on a small machine
 * the clients do not saturate the CPU before the servers under test do.
 *
 * ensureLoadgen() compiles the program once (gcc, libc only) into node_modules/.cache; startCClient()
 * writes the caller audio to a temp file and the config to the program's stdin (see loadgen.c).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LoadClientConfig } from './load-client.ts';
import { callerAudio, identModeOf } from './load-ident.ts';
import { clientRun, onCpus, type ClientRun } from './load-procs.ts';

function mtimeMs(file: string): number | null {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return null;
  }
}

/** the compiled load generator's path; compiles bench/lib/loadgen.c when the binary is missing or older */
export function ensureLoadgen(root: string): string {
  const src = path.join(root, 'bench/lib/loadgen.c');
  const out = path.join(root, 'node_modules/.cache/switchboard/loadgen');
  const built = mtimeMs(out);
  const srcTime = mtimeMs(src);
  if (srcTime === null) throw new Error(`no load generator source at ${src}`);
  if (built !== null && built >= srcTime) return out;
  try {
    execFileSync('gcc', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('the C load generator (bench/lib/loadgen.c) needs gcc on PATH: install it (e.g. apt-get install gcc)');
  }
  mkdirSync(path.dirname(out), { recursive: true });
  // compile beside the target and rename, so a concurrent run never executes a half-written binary
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    execFileSync('gcc', ['-O2', '-std=c11', '-Wall', '-o', tmp, src, '-lm'], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    rmSync(tmp, { force: true });
    const stderr = (e as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`compiling ${src} failed: ${stderr || (e as Error).message}`);
  }
  renameSync(tmp, out);
  return out;
}

/** caller audio files per corpus and transport, shared by every client of this process */
const audioFiles = new Map<string, { file: string; frameBytes: number }>();
let audioDir: string | null = null;

function audioFile(corpus: string, transport: LoadClientConfig['transport']): { file: string; frameBytes: number } {
  const key = `${transport}\0${corpus}`;
  const have = audioFiles.get(key);
  if (have) return have;
  if (audioDir === null) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'switchboard-loadgen-'));
    audioDir = dir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  // stamp mode: the corpus untouched (no dither), exactly what load-client.ts sends
  const { bytes, frameBytes } = callerAudio(corpus, transport, false);
  const file = path.join(audioDir, `caller-${transport}-${audioFiles.size}.raw`);
  writeFileSync(file, bytes);
  const entry = { file, frameBytes };
  audioFiles.set(key, entry);
  return entry;
}

/** the config as loadgen.c reads it: `key value` lines, then `tokens N` and one token a line */
function configText(cfg: LoadClientConfig, audio: { file: string; frameBytes: number }): string {
  const url = new URL(cfg.url);
  if (url.protocol !== 'ws:') throw new Error(`the C load generator speaks plain ws:// only, not ${cfg.url}`);
  const base = url.pathname.replace(/\/+$/, '');
  const reqPath = cfg.transport === 'twilio' ? `${base}/v1/twilio/media` : `${base}/v1/audio?token=`;
  for (const t of cfg.tokens) if (/\s/.test(t)) throw new Error('a token contains whitespace');
  const lines = [
    `host ${url.hostname.replace(/^\[(.*)\]$/, '$1')}`,
    `port ${url.port || '80'}`,
    `hostHeader ${url.host}`,
    `path ${reqPath}`,
    `transport ${cfg.transport}`,
    `audio ${audio.file}`,
    `frameBytes ${audio.frameBytes}`,
    `warmupS ${cfg.warmupS}`,
    `durationS ${cfg.durationS}`,
    `tailS ${cfg.tailS}`,
    `phaseOffsetMs ${cfg.phaseOffsetMs}`,
    `tokens ${cfg.tokens.length}`,
    ...cfg.tokens,
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Runs the C load generator with the config load-client.ts takes (stamp mode only); `cpus` (a
 * taskset list such as "1" or "0,1") pins it to those CPUs.
 */
export function startCClient(binary: string, cfg: LoadClientConfig, cwd: string, cpus?: string): ClientRun {
  if (identModeOf(cfg.path) !== 'stamp') throw new Error('the C load generator identifies frames by stamp only; this path converts the audio (content mode): use load-client.ts');
  const input = configText(cfg, audioFile(cfg.corpus, cfg.transport));
  return clientRun(spawn(...onCpus(cpus, binary, []), { cwd, stdio: ['pipe', 'pipe', 'pipe'] }), input, `C load generator ${binary}`);
}
