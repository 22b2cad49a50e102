/** Child processes for bench/load.ts: the servers under test and the load clients, plus /proc sampling. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import os from 'node:os';
import type { LoadClientResult } from './load-client.ts';

/**
 * Scheduling priority for the bench's processes (`--nice`, e.g. -10 as root). On a shared, overloaded
 * machine run-queue waits dominate p99 for every server alike; a higher priority measures the servers
 * rather than the neighbours. Reported with the results.
 */
let benchNice = 0;
export function setBenchNice(n: number): void {
  benchNice = n;
  if (n === 0) return;
  // With autogroup scheduling (Linux default on desktops and here) a process's nice value only ranks it
  // within its own session's group; groups share the CPU by the group's nice. The bench and all its
  // children share one session, so the group nice is what gives them priority over other sessions.
  // The group outlives the bench (it is the shell's too), so its nice is put back at exit.
  try {
    if (readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim() !== '1') return;
    const before = /nice (-?\d+)/.exec(readFileSync('/proc/self/autogroup', 'utf8'))?.[1] ?? '0';
    writeFileSync('/proc/self/autogroup', String(n));
    process.once('exit', () => {
      try {
        writeFileSync('/proc/self/autogroup', before);
      } catch {
        // nothing more to do at exit
      }
    });
  } catch (e) {
    process.stderr.write(`cannot set the autogroup nice ${n}: ${(e as Error).message}\n`);
  }
}
function applyNice(pid: number | undefined): void {
  if (benchNice === 0 || pid === undefined) return;
  try {
    os.setPriority(pid, benchNice);
  } catch (e) {
    process.stderr.write(`cannot set priority ${benchNice}: ${(e as Error).message}\n`);
  }
}

export interface ServerProc {
  name: string;
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * `command args` as spawn arguments, run on the given CPUs (a taskset list such as `0` or `1-3`) when
 * `cpus` is set. taskset execs the command, so the child's pid is the command's, and every thread the
 * process starts later (Node's GC and libuv helpers) inherits the affinity.
 */
export function onCpus(cpus: string | undefined, command: string, args: string[]): [string, string[]] {
  return cpus === undefined ? [command, args] : ['taskset', ['-c', cpus, command, ...args]];
}

/** start `node --import tsx <script>` (on `cpus`, if given) and wait for its `listening on ws://...` line */
export async function startServer(name: string, script: string, env: Record<string, string>, cwd: string, cpus?: string): Promise<ServerProc> {
  const child = spawn(...onCpus(cpus, process.execPath, ['--import', 'tsx', script]), { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  applyNice(child.pid);
  // never leave a server behind, whatever way the bench exits
  process.once('exit', () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const url = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      const m = /listening on (ws:\/\/\S+)/.exec(line);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code} before listening`)));
  });
  return {
    name,
    url,
    child,
    stop: () => stopChild(child),
  };
}

/**
 * The provider stand-ins in their own process (`test/stand-ins/serve.ts --loopback`): resolves with
 * the provider config env it prints for the gateway. `format` is the ElevenLabs agent's format.
 */
export async function startStandIns(format: 'pcm16' | 'mulaw', cwd: string): Promise<{ proc: ServerProc; env: Record<string, string> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/stand-ins/serve.ts', '--loopback', '--format', format], { cwd, env: process.env, stdio: ['ignore', 'pipe', 'inherit'] });
  applyNice(child.pid);
  process.once('exit', () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const env = await new Promise<Record<string, string>>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (line) => {
      try {
        resolve((JSON.parse(line) as { env: Record<string, string> }).env);
      } catch {
        reject(new Error(`stand-ins printed ${line.slice(0, 200)} instead of their env`));
      }
    });
    child.once('exit', (code) => reject(new Error(`stand-ins exited with ${code} before starting`)));
  });
  return { proc: { name: 'stand-ins', url: env.OPENAI_BASE_URL ?? '', child, stop: () => stopChild(child) }, env };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
}

const CLK_TCK = 100;

/** CPU seconds (user + system) a process has used so far */
export function cpuSeconds(pid: number): number {
  const t = cpuTimes(pid);
  return t.user + t.sys;
}

/**
 * Machine-wide CPU ticks so far, and how many of them the hypervisor gave to someone else (steal).
 * On a virtual machine whose host is busy, steal shows up as latency no server can avoid, so every
 * trial reports it: a p99 measured under heavy steal says little about the server.
 */
export function machineTicks(): { total: number; steal: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
  return { total, steal: cpu[7] ?? 0 };
}

/** CPU seconds a process has used so far in user space and in the kernel (system calls, TCP) */
export function cpuTimes(pid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / CLK_TCK, sys: Number(fields[12]) / CLK_TCK };
}

export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : 0;
}

export interface ClientRun<R = LoadClientResult> {
  child: ChildProcess;
  onPhase(phase: string, cb: () => void): void;
  result: Promise<R>;
}

export function startClient(script: string, config: unknown, cwd: string, cpus?: string): ClientRun {
  // the config (hundreds of tokens) goes in on stdin: one environment variable is capped at 128 KiB
  return clientRun(spawn(...onCpus(cpus, process.execPath, ['--import', 'tsx', script]), { cwd, stdio: ['pipe', 'pipe', 'pipe'] }), JSON.stringify(config));
}

/**
 * A load client process speaking the clients' protocol: `input` on stdin; on stdout `{"phase":...}`
 * lines as the measurement starts and ends, then one JSON result line; exit 0.
 */
export function clientRun<R = LoadClientResult>(child: ChildProcess, input: string, what = 'load client'): ClientRun<R> {
  child.stdin!.end(input);
  applyNice(child.pid);
  const phases = new Map<string, () => void>();
  const result = new Promise<R>((resolve, reject) => {
    let got = false;
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      if (line.startsWith('{"phase"')) {
        phases.get((JSON.parse(line) as { phase: string }).phase)?.();
        return;
      }
      if (line.startsWith('{')) {
        got = true;
        resolve(JSON.parse(line) as R);
      }
    });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d));
    child.once('error', (e) => reject(new Error(`cannot start the ${what}: ${e.message}`)));
    // 'close' comes after stdout has ended, so a result line is never missed
    child.once('close', (code, signal) => {
      if (code !== 0) reject(new Error(`${what} exited ${code ?? signal}: ${err.slice(-500)}`));
      else if (!got) reject(new Error(`${what} printed no result: ${err.slice(-500)}`));
    });
  });
  return { child, onPhase: (p, cb) => phases.set(p, cb), result };
}
