/** Short-lived user access tokens (HS256; verified by koa-jwt in middleware/authenticate.ts). */
import { SignJWT } from 'jose';
import type { Role } from '../../../shared/src/api/common.ts';

export const ACCESS_AUDIENCE = 'switchboard-control';
export const ACCESS_ISSUER = 'switchboard-control';

export async function mintAccessToken(secret: Uint8Array, claims: { sub: string; tid: string; role: Role }, ttlS: number): Promise<string> {
  return new SignJWT({ tid: claims.tid, role: claims.role })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuer(ACCESS_ISSUER)
    .setAudience(ACCESS_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(`${ttlS}s`)
    .sign(secret);
}
