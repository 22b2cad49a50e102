/**
 * The upgrade of an offline-verifiable token happens inside uWS's upgrade handler. Upgraded later
 * through res.cork, this uWS misread the reallocated socket as an HTTP response and, when the bytes
 * there said "Connection: close", closed the fresh WebSocket right after its 101 (by chance of the
 * user data otherwise: the web e2e guest's intermittent 1006). A request that really says
 * Connection: close makes that misread certain, so it is the deterministic case here.
 */
import t from 'tap';
import net, { type AddressInfo } from 'node:net';
import http from 'node:http';
import { SignJWT } from 'jose';
import { createTokenVerifier, generateSigningKey, jwksOf, mintSessionToken } from '../../shared/src/token.ts';
import { startTestGateway, tokenInput } from './helpers.ts';

/** a masked client text frame (RFC 6455 5.3) */
function textFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from([0x11, 0x22, 0x33, 0x44]);
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!))]);
}

/** raw handshake with the given Connection header, then session.start; what came back */
function handshake(port: number, token: string, connection: string): Promise<{ status: string; started: boolean; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    let startSent = false;
    const done = (closedByServer: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ status: text.split('\r\n')[0] ?? '', started: text.includes('"session.started"'), closedByServer });
    };
    const timer = setTimeout(() => done(false), 5000);
    s.on('connect', () => s.write(
      `GET /v1/audio?token=${token} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: ${connection}\r\nUpgrade: websocket\r\n` +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    ));
    s.on('data', (d) => {
      text += d.toString('latin1');
      if (!startSent && text.includes('\r\n\r\n')) {
        startSent = true;
        if (text.startsWith('HTTP/1.1 101')) s.write(textFrame(JSON.stringify({ type: 'session.start', codec: 'pcm16' })));
      }
      if (text.includes('"session.started"')) done(false);
    });
    s.on('end', () => done(true));
    s.on('error', reject);
  });
}

t.test('an upgrade request saying Connection: close opens and its session starts', async (t) => {
  const tg = await startTestGateway();
  t.teardown(() => tg.close());
  for (const connection of ['Upgrade', 'close', 'keep-alive, Upgrade']) {
    const r = await handshake(tg.gw.port, await tg.token(), connection);
    t.equal(r.status, 'HTTP/1.1 101 Switching Protocols', `Connection: ${connection} is upgraded`);
    t.ok(r.started && !r.closedByServer, `Connection: ${connection}: session.started arrives on the open socket (${JSON.stringify(r)})`);
  }
  // a refusal still answers with its problem status (the asynchronous path)
  const refused = await handshake(tg.gw.port, 'not-a-token', 'close');
  t.equal(refused.status, 'HTTP/1.1 401 Unauthorized', 'a bad token is refused');
});

t.test('verifySync accepts exactly what verify accepts, and defers every refusal to verify', async (t) => {
  const key = await generateSigningKey();
  const other = await generateSigningKey();
  const v = createTokenVerifier(jwksOf(key));
  const now = Math.floor(Date.now() / 1000);
  const good = await mintSessionToken(tokenInput({ sub: 'p1' }), key);
  const sync = v.verifySync(good);
  const full = await v.verify(good);
  t.ok(full.ok && sync !== null, 'a valid token verifies both ways');
  if (full.ok) t.same(sync, full.claims, 'with the same claims');

  const [h, p] = good.split('.');
  const tampered = `${h}.${Buffer.from(JSON.stringify({ ...full.ok ? full.claims : {}, sub: 'p2' })).toString('base64url')}.${good.split('.')[2]}`;
  const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', kid: key.kid })).toString('base64url')}.${p}.`;
  const wrongAudience = await new SignJWT({ ...tokenInput() }).setProtectedHeader({ alg: 'ES256', kid: key.kid }).setIssuer('switchboard-control')
    .setAudience('elsewhere').setIssuedAt(now).setExpirationTime(now + 60).setJti('j').sign(key.privateKey);
  const refused: Array<[string, string | null]> = [
    ['missing', null],
    ['garbage', 'garbage'],
    ['expired', await mintSessionToken(tokenInput(), key, now - 1000)],
    ['not yet valid', await mintSessionToken({ ...tokenInput(), nbf: now + 600 }, key)],
    ['signed by another key under our kid', await mintSessionToken(tokenInput(), { ...other, kid: key.kid })],
    ['unknown kid', await mintSessionToken(tokenInput(), other)],
    ['tampered payload', tampered],
    ['alg none', unsigned],
    ['wrong audience', wrongAudience],
  ];
  for (const [what, token] of refused) {
    t.equal(v.verifySync(token), null, `${what}: not accepted synchronously`);
    t.equal((await v.verify(token)).ok, false, `${what}: refused by verify`);
  }
  t.equal(createTokenVerifier(new URL('http://127.0.0.1:9/.well-known/jwks.json')).verifySync(good), null, 'an unreachable remote JWKS: nothing is checked synchronously');
});

t.test('a remote JWKS (the control plane\'s URL) is fetched up front and then checks tokens synchronously', async (t) => {
  const key = await generateSigningKey();
  const other = await generateSigningKey();
  const served = jwksOf(key);
  let fetches = 0;
  const server = http.createServer((_req, res) => {
    fetches++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(served));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const v = createTokenVerifier(new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`));
  const good = await mintSessionToken(tokenInput({ sub: 'p1' }), key);
  for (let i = 0; i < 100 && v.verifySync(good) === null; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(fetches, 1, 'fetched once, when the verifier was made');
  t.equal(v.verifySync(good)?.sub, 'p1', 'then a token signed with a published key verifies synchronously');
  const unknown = await mintSessionToken(tokenInput({ sub: 'p2' }), other);
  t.equal(v.verifySync(unknown), null, 'a kid the cached set lacks goes to verify');
  const full = await v.verify(unknown);
  t.ok(!full.ok && full.reason === 'TOKEN_BAD_SIGNATURE', 'which refuses it (jose refetches an unknown kid at most every 30 s)');
});
