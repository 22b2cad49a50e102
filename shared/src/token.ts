/**
 * Session tokens: the only thing the gateway trusts. Minted by the control plane (ES256, its private
 * key), verified offline by the gateway with the public key (a JWKS). One schema, one verifier.
 */
import { createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import {
  SignJWT, jwtVerify, decodeProtectedHeader, createLocalJWKSet, createRemoteJWKSet, errors as joseErrors,
  exportJWK, generateKeyPair, importJWK, calculateJwkThumbprint,
  type JWK, type JSONWebKeySet, type JWTVerifyGetKey, type CryptoKey,
} from 'jose';
import type { ErrorCode } from './errors.ts';

export const TOKEN_AUDIENCE = 'gateway';
export const TOKEN_ISSUER = 'switchboard-control';
export const TOKEN_ALG = 'ES256';

export const PROVIDERS = ['echo', 'openai', 'elevenlabs', 'ultravox'] as const;
export const ProviderName = z.enum(PROVIDERS);
export type ProviderName = z.infer<typeof ProviderName>;

export const TRANSPORTS = ['web', 'twilio', 'realtime'] as const;
export const TransportName = z.enum(TRANSPORTS);
export type TransportName = z.infer<typeof TransportName>;

/** Consent purposes: fixed ones plus `provider:<name>` for transfer to a third-party AI provider. */
export const ConsentPurpose = z.union([
  z.enum(['voice_processing', 'recording', 'transcript_storage']),
  z.string().regex(/^provider:[a-z0-9_-]+$/),
]);
export type ConsentPurpose = z.infer<typeof ConsentPurpose>;

/** Nudge rule overrides carried per session (features issue); every field optional. */
export const NudgeRules = z
  .object({
    enabled: z.boolean().optional(),
    min_interval_s: z.number().positive().optional(),
    slow_down_syll_per_s: z.number().positive().optional(),
    slow_down_hold_s: z.number().positive().optional(),
    interrupts_in_window: z.number().int().positive().optional(),
    interrupt_window_s: z.number().positive().optional(),
    overlap_ratio_max: z.number().min(0).max(1).optional(),
    speak_up_dbfs: z.number().optional(),
    give_space_share: z.number().min(0).max(1).optional(),
    give_space_window_s: z.number().positive().optional(),
  })
  .strict();
export type NudgeRules = z.infer<typeof NudgeRules>;

/** Agent configuration that travels in the token (small; secrets never do). */
export const AgentConfig = z
  .object({
    ref: z.string().max(200).optional(),
    instructions: z.string().max(8000).optional(),
    voice: z.string().max(100).optional(),
    tools: z.array(z.string().max(100)).max(32).optional(),
    language: z.string().max(16).optional(),
    nudges: NudgeRules.optional(),
  })
  .strict();
export type AgentConfig = z.infer<typeof AgentConfig>;

export const SessionClaims = z.object({
  iss: z.literal(TOKEN_ISSUER),
  aud: z.union([z.literal(TOKEN_AUDIENCE), z.array(z.string()).refine((a) => a.includes(TOKEN_AUDIENCE))]),
  /** the participant this token admits */
  sub: z.string().min(1).max(200),
  jti: z.string().min(1),
  iat: z.number().int(),
  nbf: z.number().int().optional(),
  exp: z.number().int(),
  sid: z.string().min(1).max(100),
  tid: z.string().min(1).max(100),
  /** every participant id that may join this session (the coaching case names two) */
  participants: z.array(z.string().min(1).max(200)).min(1).max(16),
  provider: ProviderName,
  transport: TransportName,
  agent: AgentConfig,
  purposes: z.array(ConsentPurpose),
  max_duration_s: z.number().int().positive(),
});
export type SessionClaims = z.infer<typeof SessionClaims>;

/** What a caller supplies to mint a token; the registered claims are filled in here. */
export type SessionTokenInput = Omit<SessionClaims, 'iss' | 'aud' | 'iat' | 'nbf' | 'exp' | 'jti'> & {
  ttl_s: number;
  jti?: string;
  nbf?: number;
};

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function generateSigningKey(): Promise<SigningKey & { privateJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(TOKEN_ALG, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const privateJwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return { kid, privateKey, privateJwk: { ...privateJwk, kid, alg: TOKEN_ALG }, publicJwk: { ...publicJwk, kid, alg: TOKEN_ALG, use: 'sig' } };
}

/** Import a private JWK (as stored in config/secrets) into a signing key. */
export async function importSigningKey(privateJwk: JWK): Promise<SigningKey> {
  const privateKey = (await importJWK({ ...privateJwk, alg: TOKEN_ALG }, TOKEN_ALG)) as CryptoKey;
  const { d: _d, ...pub } = privateJwk;
  const kid = privateJwk.kid ?? (await calculateJwkThumbprint(pub));
  return { kid, privateKey, publicJwk: { ...pub, kid, alg: TOKEN_ALG, use: 'sig' } };
}

export function jwksOf(...keys: SigningKey[]): JSONWebKeySet {
  return { keys: keys.map((k) => k.publicJwk) };
}

export async function mintSessionToken(input: SessionTokenInput, key: SigningKey, now = Math.floor(Date.now() / 1000)): Promise<string> {
  const { ttl_s, jti, nbf, ...claims } = input;
  const jwt = new SignJWT({ ...claims })
    .setProtectedHeader({ alg: TOKEN_ALG, kid: key.kid, typ: 'JWT' })
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + ttl_s)
    .setJti(jti ?? crypto.randomUUID());
  if (nbf !== undefined) jwt.setNotBefore(nbf);
  return jwt.sign(key.privateKey);
}

export type TokenFailure = Extract<
  ErrorCode,
  | 'TOKEN_MISSING' | 'TOKEN_MALFORMED' | 'TOKEN_EXPIRED' | 'TOKEN_NOT_YET_VALID' | 'TOKEN_WRONG_AUDIENCE'
  | 'TOKEN_BAD_SIGNATURE' | 'TOKEN_ALG_NOT_ALLOWED' | 'TOKEN_CLAIMS_INVALID'
>;
export type VerifyResult = { ok: true; claims: SessionClaims } | { ok: false; reason: TokenFailure; message: string };

export interface TokenVerifier {
  verify(token: string | null | undefined): Promise<VerifyResult>;
  /**
   * The same check done synchronously when it can be (a plain ES256 token whose kid is in the JWKS
   * given, or in the fresh cached copy of a remote one, and that verifies): the claims, or null to
   * mean "ask `verify`", which also gives every
   * refusal its reason. For callers that must act before returning to their event loop (the
   * gateway's uWS upgrade).
   */
  verifySync(token: string | null | undefined): SessionClaims | null;
}

/**
 * Build the verifier the gateway uses. `keys` is a JWKS (offline, the normal case) or a URL of the
 * control plane's `/.well-known/jwks.json` (fetched and cached by jose).
 */
export function createTokenVerifier(keys: JSONWebKeySet | URL, clockToleranceS = 5): TokenVerifier {
  const remote = keys instanceof URL ? createRemoteJWKSet(keys) : null;
  const getKey: JWTVerifyGetKey = remote ?? createLocalJWKSet(keys as JSONWebKeySet);
  let offline = remote === null ? localKeys(keys as JSONWebKeySet) : NO_KEYS;
  let seen: JSONWebKeySet | undefined;
  let seenAt = 0;
  /**
   * The keys the synchronous check may use. A remote JWKS lends it jose's cached copy, fetched up
   * front here and refreshed by `verify`; a copy older than jose's own cache age is not trusted (a key
   * the control plane withdrew must stop working): the token then goes to `verify`, which refreshes it.
   */
  const syncKeys = (): ReadonlyMap<string, KeyObject> => {
    if (remote === null) return offline;
    const current = remote.jwks();
    if (current !== seen) {
      seen = current;
      seenAt = Date.now();
      offline = current === undefined ? NO_KEYS : localKeys(current);
    }
    return Date.now() - seenAt < REMOTE_JWKS_MAX_AGE_MS ? offline : NO_KEYS;
  };
  // fetched now, so the first upgrades can already be checked synchronously (a failure is retried by verify)
  if (remote !== null) remote.reload().catch(() => {});
  return {
    verifySync(token) {
      if (!token) return null;
      const parts = token.split('.');
      if (parts.length !== 3) return null;
      const [h, p, sig] = parts as [string, string, string];
      let header: { alg?: unknown; kid?: unknown; crit?: unknown; b64?: unknown };
      let payload: unknown;
      try {
        header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
        payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
      } catch {
        return null;
      }
      // anything unusual (other alg, no kid, crit/b64 extensions) is left to jose
      if (header === null || typeof header !== 'object' || header.alg !== TOKEN_ALG || typeof header.kid !== 'string') return null;
      if (header.crit !== undefined || header.b64 !== undefined) return null;
      const key = syncKeys().get(header.kid);
      if (key === undefined) return null;
      if (!cryptoVerify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(sig, 'base64url'))) return null;
      // jose's rules: exp must be ahead of now - tolerance, nbf behind now + tolerance
      const now = Math.floor(Date.now() / 1000);
      const parsed = SessionClaims.safeParse(payload);
      if (!parsed.success) return null;
      const c = parsed.data;
      if (c.exp <= now - clockToleranceS || (c.nbf !== undefined && c.nbf > now + clockToleranceS)) return null;
      return c;
    },
    async verify(token) {
      if (!token) return { ok: false, reason: 'TOKEN_MISSING', message: 'no token presented' };
      let alg: string | undefined;
      try {
        alg = decodeProtectedHeader(token).alg;
      } catch {
        return { ok: false, reason: 'TOKEN_MALFORMED', message: 'token header is not decodable' };
      }
      // Checked before verification so `alg: none` and HS256-with-public-key tricks never reach jose.
      if (alg !== TOKEN_ALG) return { ok: false, reason: 'TOKEN_ALG_NOT_ALLOWED', message: `alg ${String(alg)} is not allowed` };
      let payload: unknown;
      try {
        ({ payload } = await jwtVerify(token, getKey, {
          algorithms: [TOKEN_ALG],
          audience: TOKEN_AUDIENCE,
          issuer: TOKEN_ISSUER,
          clockTolerance: clockToleranceS,
        }));
      } catch (e) {
        return { ok: false, ...classifyJoseError(e) };
      }
      const parsed = SessionClaims.safeParse(payload);
      if (!parsed.success) return { ok: false, reason: 'TOKEN_CLAIMS_INVALID', message: parsed.error.issues[0]?.message ?? 'invalid claims' };
      return { ok: true, claims: parsed.data };
    },
  };
}

const NO_KEYS: ReadonlyMap<string, KeyObject> = new Map();
/** jose's default cache age of a remote JWKS (cacheMaxAge, 10 minutes) */
const REMOTE_JWKS_MAX_AGE_MS = 600_000;

/** the JWKS's ES256 public keys by kid, for the synchronous check */
function localKeys(jwks: JSONWebKeySet): Map<string, KeyObject> {
  const m = new Map<string, KeyObject>();
  for (const jwk of jwks.keys) {
    if (typeof jwk.kid !== 'string' || jwk.kty !== 'EC' || jwk.crv !== 'P-256' || (jwk.alg !== undefined && jwk.alg !== TOKEN_ALG)) continue;
    if (jwk.use !== undefined && jwk.use !== 'sig') continue;
    try {
      m.set(jwk.kid, createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, format: 'jwk' }));
    } catch {
      // not a usable key: tokens naming it go to jose, which refuses them with its reason
    }
  }
  return m;
}

function classifyJoseError(e: unknown): { reason: TokenFailure; message: string } {
  if (e instanceof joseErrors.JWTExpired) return { reason: 'TOKEN_EXPIRED', message: 'token expired' };
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    if (e.claim === 'nbf' || e.claim === 'iat') return { reason: 'TOKEN_NOT_YET_VALID', message: 'token not valid yet' };
    if (e.claim === 'aud') return { reason: 'TOKEN_WRONG_AUDIENCE', message: 'token audience is not gateway' };
    return { reason: 'TOKEN_CLAIMS_INVALID', message: `claim ${e.claim} failed validation` };
  }
  if (e instanceof joseErrors.JOSEAlgNotAllowed) return { reason: 'TOKEN_ALG_NOT_ALLOWED', message: 'algorithm not allowed' };
  if (e instanceof joseErrors.JWSSignatureVerificationFailed || e instanceof joseErrors.JWKSNoMatchingKey || e instanceof joseErrors.JWKSMultipleMatchingKeys) {
    return { reason: 'TOKEN_BAD_SIGNATURE', message: 'signature does not verify with a known key' };
  }
  return { reason: 'TOKEN_MALFORMED', message: 'token is malformed' };
}
