/**
 * Floor for bench/load.ts on uWebSockets.js: the same wire work as ws-relay.ts (native: binary frames
 * straight back; Twilio: parse each JSON message, base64-decode the μ-law payload, re-encode it and
 * send a `media` message back) with no application logic at all, done the cheapest way (the payload
 * decoded into one preallocated buffer per socket, the reply built as a string, not stringified). No
 * server built on uWS in Node can relay a frame for less CPU than this, so its capacity bounds what
 * the gateway can reach, and its ratio to the `ws` relay bounds the gateway/ws ratio the same load
 * can show.
 * Prints `listening on ws://host:port` and runs until killed.
 */
import uws from 'uWebSockets.js';
import { assertNativeUws } from '../../gateway/src/server.ts';

assertNativeUws();

interface UserData {
  twilio: boolean;
  /** the start of every outbound `media` message, once the stream's sid is known */
  mediaPrefix: string;
  /** decoded payload (a Twilio frame is 160 bytes; this holds far more) */
  audio: Buffer;
}

const decoder = new TextDecoder();
const behavior = (twilio: boolean): uws.WebSocketBehavior<UserData> => ({
  maxPayloadLength: 64 * 1024,
  idleTimeout: 60,
  maxBackpressure: 1024 * 1024,
  upgrade: (res, req, context) => {
    res.upgrade<UserData>(
      { twilio, mediaPrefix: '', audio: Buffer.alloc(twilio ? 16 * 1024 : 0) },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    );
  },
  message: (ws, message, isBinary) => {
    const ud = ws.getUserData();
    if (isBinary) {
      if (!ud.twilio) ws.send(message, true);
      return;
    }
    let msg: { type?: string; event?: string; streamSid?: string; media?: { payload?: string } };
    try {
      msg = JSON.parse(decoder.decode(message));
    } catch {
      return; // the bench never sends garbage
    }
    if (!ud.twilio) {
      if (msg.type === 'session.start') ws.send(JSON.stringify({ type: 'session.started' }), false);
    } else if (msg.event === 'start') ud.mediaPrefix = `{"event":"media","streamSid":${JSON.stringify(String(msg.streamSid))},"media":{"payload":"`;
    else if (msg.event === 'media' && typeof msg.media?.payload === 'string') {
      const n = ud.audio.write(msg.media.payload, 'base64');
      ws.send(`${ud.mediaPrefix}${ud.audio.toString('base64', 0, n)}"}}`, false);
    }
  },
});

const port = Number(process.env.BASELINE_PORT ?? 0);
uws
  .App()
  .ws('/v1/audio', behavior(false))
  .ws('/v1/twilio/media', behavior(true))
  .listen('127.0.0.1', port, (socket) => {
    if (!socket) throw new Error(`cannot listen on 127.0.0.1:${port}`);
    process.stdout.write(`listening on ws://127.0.0.1:${uws.us_socket_local_port(socket)}\n`);
  });
