/**
 * Carrying a session token through Twilio `<Parameter>`s.
 *
 * Twilio limits each `<Parameter>` name plus value to under 500 characters (PROTOCOLS.md 1.1), and a
 * session JWT is ~700 characters before any agent instructions. So the token is split into chunks:
 * `token` holds the first, `token_1`, `token_2`, ... the rest, in order. The gateway joins them from
 * `start.customParameters` before verifying; a short token is a single `token` parameter as before.
 */
export const TWILIO_PARAMETER_MAX = 499;
const CHUNK = 480; // leaves room for the longest name we use ("token_99")
const MAX_CHUNKS = 100;

export function tokenParameters(token: string): Array<{ name: string; value: string }> {
  const out: Array<{ name: string; value: string }> = [];
  for (let i = 0, n = 0; i < token.length; i += CHUNK, n++) {
    if (n >= MAX_CHUNKS) throw new RangeError('session token too long for Twilio parameters');
    out.push({ name: n === 0 ? 'token' : `token_${n}`, value: token.slice(i, i + CHUNK) });
  }
  return out;
}

/** The token from `start.customParameters`, or null when absent. */
export function tokenFromParameters(params: Readonly<Record<string, string>>): string | null {
  const first = params.token;
  if (first === undefined || first === '') return null;
  let token = first;
  for (let n = 1; n < MAX_CHUNKS; n++) {
    const part = params[`token_${n}`];
    if (part === undefined) break;
    token += part;
  }
  return token;
}
