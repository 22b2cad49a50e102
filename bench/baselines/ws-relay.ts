/**
 * Baseline for bench/load.ts: the smallest honest relay on the `ws` package doing the same wire work
 * as the gateway in `echo:loopback` mode — native: binary frames straight back; Twilio: parse each
 * JSON message, base64-decode the μ-law payload, re-encode it and send a `media` message back. No
 * auth, no pacing, no metrics: it is the floor a plain Node WebSocket server sets.
 * Prints `listening on ws://host:port` and runs until killed.
 */
import { WebSocketServer, type WebSocket } from 'ws';
import type { IncomingMessage } from 'node:http';

const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(process.env.BASELINE_PORT ?? 0), perMessageDeflate: false, maxPayload: 64 * 1024 });

wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
  const twilio = (req.url ?? '').startsWith('/v1/twilio/media');
  ws.on('error', () => ws.terminate());
  if (twilio) {
    let streamSid = '';
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let msg: { event?: string; streamSid?: string; media?: { payload?: string } };
      try {
        msg = JSON.parse(String(data));
      } catch {
        return;
      }
      if (msg.event === 'start') streamSid = String(msg.streamSid);
      else if (msg.event === 'media' && typeof msg.media?.payload === 'string') {
        const bytes = Buffer.from(msg.media.payload, 'base64');
        ws.send(JSON.stringify({ event: 'media', streamSid, media: { payload: bytes.toString('base64') } }));
      }
    });
    return;
  }
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      ws.send(data as Buffer, { binary: true });
      return;
    }
    try {
      const ev = JSON.parse(String(data)) as { type?: string };
      if (ev.type === 'session.start') ws.send(JSON.stringify({ type: 'session.started' }));
    } catch {
      // ignore, like the gateway's error path would answer; the bench never sends garbage
    }
  });
});

wss.on('listening', () => {
  const a = wss.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  process.stdout.write(`listening on ws://127.0.0.1:${port}\n`);
});
