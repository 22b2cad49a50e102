import t from 'tap';
import { SignJWT, base64url } from 'jose';
import {
  generateSigningKey, jwksOf, mintSessionToken, createTokenVerifier, type SessionTokenInput,
} from '../../shared/src/token.ts';

const input: SessionTokenInput = {
  sub: 'p1', sid: 's1', tid: 't1', participants: ['p1', 'p2'], provider: 'echo', transport: 'web',
  agent: { instructions: 'be kind' }, purposes: ['voice_processing', 'provider:echo'], max_duration_s: 600, ttl_s: 300,
};

t.test('valid token verifies and carries the claims', async (t) => {
  const key = await generateSigningKey();
  const v = createTokenVerifier(jwksOf(key));
  const res = await v.verify(await mintSessionToken(input, key));
  t.equal(res.ok, true);
  if (res.ok) {
    t.equal(res.claims.sid, 's1');
    t.same(res.claims.participants, ['p1', 'p2']);
    t.same(res.claims.purposes, ['voice_processing', 'provider:echo']);
    t.equal(res.claims.aud, 'gateway');
  }
});

t.test('every failure reason', async (t) => {
  const key = await generateSigningKey();
  const other = await generateSigningKey();
  const v = createTokenVerifier(jwksOf(key));
  const now = Math.floor(Date.now() / 1000);
  const reason = async (tok: string | null) => {
    const r = await v.verify(tok);
    return r.ok ? 'ok' : r.reason;
  };
  t.equal(await reason(null), 'TOKEN_MISSING');
  t.equal(await reason('garbage'), 'TOKEN_MALFORMED');
  t.equal(await reason(await mintSessionToken(input, key, now - 1000)), 'TOKEN_EXPIRED');
  t.equal(await reason(await mintSessionToken({ ...input, nbf: now + 600 }, key)), 'TOKEN_NOT_YET_VALID');
  t.equal(await reason(await mintSessionToken(input, { ...other, kid: key.kid })), 'TOKEN_BAD_SIGNATURE');
  t.equal(await reason(await mintSessionToken(input, other)), 'TOKEN_BAD_SIGNATURE');
  const wrongAud = await new SignJWT({ ...input, ttl_s: undefined })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid }).setIssuer('switchboard-control').setAudience('control')
    .setIssuedAt().setExpirationTime('5m').setJti('x').sign(key.privateKey);
  t.equal(await reason(wrongAud), 'TOKEN_WRONG_AUDIENCE');
  const good = await mintSessionToken(input, key);
  const [h, p] = good.split('.');
  const none = `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${p}.`;
  t.equal(await reason(none), 'TOKEN_ALG_NOT_ALLOWED');
  const payload = JSON.parse(new TextDecoder().decode(base64url.decode(p!)));
  payload.max_duration_s = 999999;
  const tampered = `${h}.${base64url.encode(JSON.stringify(payload))}.${good.split('.')[2]}`;
  t.equal(await reason(tampered), 'TOKEN_BAD_SIGNATURE');
  const badClaims = await new SignJWT({ sid: 's1' })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid }).setIssuer('switchboard-control').setAudience('gateway')
    .setSubject('p1').setIssuedAt().setExpirationTime('5m').setJti('y').sign(key.privateKey);
  t.equal(await reason(badClaims), 'TOKEN_CLAIMS_INVALID');
});
