/**
 * Load generator process for bench/load.ts. Opens one WebSocket per simulated caller and streams real
 * speech from ../shared/corpus at real time in 20 ms frames, callers spread evenly over the 20 ms
 * period (a real population is not phase-aligned). The server under test (the gateway with a provider
 * in loopback mode, or the ws baseline) sends every frame straight back, so the client measures
 * send -> receive per frame and counts frames that never come back. How a returned frame is
 * recognised (a sequence number stamped into its first 4 bytes when the bytes pass through, or its
 * predicted content when the gateway resamples) is explained in load-ident.ts.
 *
 * Config: JSON on stdin. Output: progress on stderr; `{"phase":"measure-start"}`,
 * `{"phase":"measure-end"}` and finally one JSON result line on stdout.
 */
import WebSocket from 'ws';
import { callerAudio, identifyByContent, identModeOf, returnedRing, type PathFormats } from './load-ident.ts';

export interface LoadClientConfig {
  url: string;
  transport: 'native' | 'twilio';
  tokens: string[];
  corpus: string;
  warmupS: number;
  durationS: number;
  tailS: number;
  /** offset of this client's callers in the 20 ms period, so several client processes interleave */
  phaseOffsetMs: number;
  /** formats along the path; decides how returned frames are identified (load-ident.ts) */
  path: PathFormats;
}

export interface LoadClientResult {
  sessions: number;
  connected: number;
  failed: number;
  sent: number;
  received: number;
  lost: number;
  /** per-frame send -> receive, microseconds, measured window only */
  latenciesUs: number[];
  /** frames that came back out of order (should be 0) */
  reordered: number;
  /** sessions whose socket closed during the run */
  disconnected: number;
  /** `content` mode: frames in the measured window that came back but matched no frame sent */
  unidentified: number;
}

const FRAME_MS = 20;
const GROUPS = 10; // callers are spread over 10 phases, 2 ms apart
/** content identification looks this far past the next expected frame (a gap of up to 5 s) */
const SEARCH_FRAMES = 250;

interface Caller {
  ws: WebSocket;
  streamSid: string;
  seq: number;
  audioPos: number;
  sendTimes: Float64Array;
  got: Uint8Array;
  lastSeq: number;
  open: boolean;
  /** corpus frame index of seq 0 (content identification) */
  startFrame: number;
  /** content identification: the next seq expected back */
  nextSeq: number;
}

async function main(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const cfg = JSON.parse(Buffer.concat(chunks).toString('utf8')) as LoadClientConfig;
  const mode = identModeOf(cfg.path);
  const { bytes: audio, frameBytes } = callerAudio(cfg.corpus, cfg.transport, mode === 'content');
  const ring = mode === 'content' ? returnedRing(audio, frameBytes, cfg.path) : null;
  let unidentified = 0;
  const totalFrames = Math.ceil(((cfg.warmupS + cfg.durationS) * 1000) / FRAME_MS) + 50;
  const latencies: number[] = [];
  let measureFrom = Infinity;
  let measureTo = Infinity;
  let sent = 0;
  let received = 0;
  let reordered = 0;
  const callers: Caller[] = [];
  let failed = 0;
  let disconnected = 0;

  /** the seq of a returned frame, or -1 */
  const identify = (c: Caller, frame: Buffer): number => {
    if (ring === null) return frame.length < 4 ? -1 : frame.readUInt32LE(0);
    const seq = identifyByContent(ring, frameBytes, c.startFrame, c.nextSeq, Math.min(c.seq, c.nextSeq + SEARCH_FRAMES), frame);
    if (seq < 0) {
      // came back but matches nothing sent: counted as lost; a caller's first two frames always land here
      const t = c.sendTimes[c.nextSeq] ?? 0;
      if (t >= measureFrom && t < measureTo) unidentified++;
      return -1;
    }
    c.nextSeq = seq + 1;
    return seq;
  };

  const onFrame = (c: Caller, frame: Buffer): void => {
    const now = performance.now();
    const seq = identify(c, frame);
    if (seq < 0 || seq >= totalFrames || c.got[seq] === 1 || c.sendTimes[seq] === 0) return;
    c.got[seq] = 1;
    if (seq < c.lastSeq) reordered++;
    c.lastSeq = seq;
    const t = c.sendTimes[seq]!;
    if (t >= measureFrom && t < measureTo) {
      received++;
      latencies.push(Math.round((now - t) * 1000));
    }
  };

  const connectOne = (token: string, i: number): Promise<void> =>
    new Promise((resolve) => {
      const twilio = cfg.transport === 'twilio';
      const url = twilio ? `${cfg.url}/v1/twilio/media` : `${cfg.url}/v1/audio?token=${token}`;
      const ws = new WebSocket(url, { perMessageDeflate: false });
      const startFrame = (i * 7919) % Math.floor(audio.length / frameBytes);
      const c: Caller = {
        ws, streamSid: `MZbench${process.pid}x${i}`, seq: 0, audioPos: startFrame * frameBytes,
        sendTimes: new Float64Array(totalFrames), got: new Uint8Array(totalFrames), lastSeq: -1, open: false, startFrame, nextSeq: 0,
      };
      let settled = false;
      const done = (ok: boolean) => {
        if (settled) return;
        settled = true;
        if (ok) {
          c.open = true;
          callers.push(c);
        } else failed++;
        resolve();
      };
      ws.on('error', () => done(false));
      ws.on('close', () => {
        if (settled && c.open) disconnected++;
        c.open = false;
        done(false);
      });
      ws.on('open', () => {
        if (twilio) {
          ws.send(JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }));
          ws.send(JSON.stringify({
            event: 'start', sequenceNumber: '1', streamSid: c.streamSid,
            start: { streamSid: c.streamSid, accountSid: 'ACbench', callSid: `CA${c.streamSid}`, tracks: ['inbound'], customParameters: { token }, mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 } },
          }));
          // Twilio gives no acknowledgement; the token check takes well under this.
          setTimeout(() => done(ws.readyState === WebSocket.OPEN), 300);
        } else ws.send(JSON.stringify({ type: 'session.start' }));
      });
      ws.on('message', (data, isBinary) => {
        const buf = data as Buffer;
        if (isBinary) {
          onFrame(c, buf);
          return;
        }
        const s = buf.toString();
        if (!twilio) {
          if (s.includes('"session.started"')) done(true);
          return;
        }
        if (s.startsWith('{"event":"media"')) {
          const p = s.indexOf('"payload":"') + 11;
          onFrame(c, Buffer.from(s.slice(p, s.indexOf('"', p)), 'base64'));
        }
      });
    });

  // Connect in batches so the handshake storm does not distort the first measurements.
  for (let i = 0; i < cfg.tokens.length; i += 25) {
    await Promise.all(cfg.tokens.slice(i, i + 25).map((tok, k) => connectOne(tok, i + k)));
  }
  process.stderr.write(`client ${process.pid}: ${callers.length} connected, ${failed} failed\n`);

  const t0 = performance.now() + 50 + cfg.phaseOffsetMs;
  measureFrom = t0 + cfg.warmupS * 1000;
  measureTo = measureFrom + cfg.durationS * 1000;
  const endAt = measureTo;
  const groups: Caller[][] = Array.from({ length: GROUPS }, () => []);
  callers.forEach((c, i) => groups[i % GROUPS]!.push(c));
  const twilio = cfg.transport === 'twilio';
  let tick = 0;
  let announcedStart = false;

  const sendFrame = (c: Caller, now: number): void => {
    if (!c.open || c.seq >= totalFrames) return;
    if (c.audioPos + frameBytes > audio.length) c.audioPos = 0;
    const frame = Buffer.from(audio.subarray(c.audioPos, c.audioPos + frameBytes));
    c.audioPos += frameBytes;
    // content mode sends the corpus untouched: the returned frame is predicted from it
    if (ring === null) frame.writeUInt32LE(c.seq, 0);
    c.sendTimes[c.seq] = now;
    if (now >= measureFrom && now < measureTo) sent++;
    c.seq++;
    if (twilio) {
      c.ws.send(`{"event":"media","sequenceNumber":"${c.seq + 1}","streamSid":"${c.streamSid}","media":{"track":"inbound","chunk":"${c.seq}","timestamp":"${c.seq * 20}","payload":"${frame.toString('base64')}"}}`);
    } else c.ws.send(frame);
  };

  await new Promise<void>((resolve) => {
    const step = (): void => {
      const now = performance.now();
      // Send every group whose 2 ms slot has come (catches up if the timer fired late).
      while (t0 + tick * (FRAME_MS / GROUPS) <= now) {
        const due = t0 + tick * (FRAME_MS / GROUPS);
        if (due >= endAt) {
          resolve();
          return;
        }
        for (const c of groups[tick % GROUPS]!) sendFrame(c, performance.now());
        tick++;
      }
      if (!announcedStart && now >= measureFrom) {
        announcedStart = true;
        process.stdout.write('{"phase":"measure-start"}\n');
      }
      setTimeout(step, Math.max(0, t0 + tick * (FRAME_MS / GROUPS) - performance.now()));
    };
    step();
  });
  process.stdout.write('{"phase":"measure-end"}\n');
  await new Promise((r) => setTimeout(r, cfg.tailS * 1000));
  const result: LoadClientResult = {
    sessions: cfg.tokens.length,
    connected: callers.length,
    failed,
    sent,
    received,
    lost: sent - received,
    latenciesUs: latencies,
    reordered,
    disconnected,
    unidentified,
  };
  for (const c of callers) {
    c.open = false;
    c.ws.terminate();
  }
  // exit only once the (large) result line has been flushed to the pipe
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
}

void main();
