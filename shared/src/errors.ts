/**
 * The one catalogue of stable error codes shared by the gateway and the control plane.
 *
 * Each code maps to an HTTP status (control plane problem JSON, gateway upgrade rejections) and a
 * WebSocket close code (gateway sessions). Codes never change meaning once published; add new ones.
 * Close codes follow RFC 6455: 1008 policy violation, 1009 message too big, 1011 internal error,
 * 4000-4999 application-specific.
 */
export interface ErrorSpec {
  readonly status: number;
  readonly close: number;
  readonly message: string;
}

export const ERRORS = {
  // request shape
  BAD_REQUEST: { status: 400, close: 1008, message: 'The request is malformed.' },
  VALIDATION_FAILED: { status: 400, close: 1008, message: 'The request failed validation.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, close: 1003, message: 'This endpoint accepts application/json only.' },
  PAYLOAD_TOO_LARGE: { status: 413, close: 1009, message: 'The request body is too large.' },
  NOT_FOUND: { status: 404, close: 4404, message: 'Not found.' },
  METHOD_NOT_ALLOWED: { status: 405, close: 1008, message: 'Method not allowed.' },
  CONFLICT: { status: 409, close: 4409, message: 'The request conflicts with the current state.' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, close: 1008, message: 'This Idempotency-Key was used with a different request.' },
  UNPROCESSABLE: { status: 422, close: 1008, message: 'The request cannot be processed.' },
  RATE_LIMITED: { status: 429, close: 4429, message: 'Too many requests; retry later.' },

  // auth
  UNAUTHENTICATED: { status: 401, close: 4401, message: 'Authentication is required.' },
  INVALID_CREDENTIALS: { status: 401, close: 4401, message: 'Email or password is wrong.' },
  TOKEN_INVALID: { status: 401, close: 4401, message: 'The token is invalid.' },
  TOKEN_EXPIRED: { status: 401, close: 4401, message: 'The token has expired.' },
  TOKEN_NOT_YET_VALID: { status: 401, close: 4401, message: 'The token is not valid yet.' },
  TOKEN_WRONG_AUDIENCE: { status: 401, close: 4401, message: 'The token is meant for another audience.' },
  TOKEN_BAD_SIGNATURE: { status: 401, close: 4401, message: 'The token signature does not verify.' },
  TOKEN_ALG_NOT_ALLOWED: { status: 401, close: 4401, message: 'The token algorithm is not allowed.' },
  TOKEN_MALFORMED: { status: 401, close: 4401, message: 'The token is malformed.' },
  TOKEN_CLAIMS_INVALID: { status: 401, close: 4401, message: 'The token claims are invalid.' },
  TOKEN_MISSING: { status: 401, close: 4401, message: 'No token was presented.' },
  REFRESH_TOKEN_REUSED: { status: 401, close: 4401, message: 'This refresh token was already used; the session family is revoked.' },
  FORBIDDEN: { status: 403, close: 4403, message: 'You may not do this.' },
  CONSENT_REQUIRED: { status: 403, close: 4403, message: 'A required consent has not been granted.' },
  SIGNATURE_INVALID: { status: 403, close: 4403, message: 'The request signature does not verify.' },

  // limits / capacity
  INSUFFICIENT_CREDIT: { status: 402, close: 4402, message: 'The balance does not cover the minimum session length.' },
  TOO_MANY_SESSIONS: { status: 429, close: 4429, message: 'Too many concurrent sessions.' },
  SESSION_FULL: { status: 409, close: 4409, message: 'Every participant this session names is already connected.' },
  DRAINING: { status: 503, close: 1001, message: 'This gateway is draining; connect to another.' },
  UNAVAILABLE: { status: 503, close: 1013, message: 'The service is unavailable; retry later.' },

  // session / protocol (gateway)
  INVALID_JSON: { status: 400, close: 1007, message: 'A text frame is not valid JSON.' },
  UNKNOWN_EVENT: { status: 400, close: 1008, message: 'The event type is unknown.' },
  INVALID_EVENT: { status: 400, close: 1008, message: 'The event does not match its schema.' },
  EVENT_OUT_OF_ORDER: { status: 409, close: 1008, message: 'The event is not allowed in the current state.' },
  INVALID_AUDIO: { status: 400, close: 1007, message: 'The audio payload is invalid.' },
  MESSAGE_TOO_BIG: { status: 413, close: 1009, message: 'The message exceeds the maximum payload length.' },
  FLOOD: { status: 429, close: 1008, message: 'Too many messages; slow down.' },
  PROVIDER_ERROR: { status: 502, close: 1011, message: 'The AI provider reported an error.' },
  PROVIDER_UNAVAILABLE: { status: 502, close: 1011, message: 'The AI provider could not be reached.' },
  PROVIDER_LOST: { status: 502, close: 1011, message: 'The connection to the AI provider was lost.' },
  TOOL_FAILED: { status: 502, close: 1011, message: 'The tool call failed.' },

  INTERNAL: { status: 500, close: 1011, message: 'Internal error.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** A typed error carrying a catalogue code. Thrown by the control plane; returned as data on hot paths. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: unknown;
  /** Extra response headers (e.g. Retry-After) the HTTP error middleware sets. */
  readonly headers: Readonly<Record<string, string>> | undefined;

  constructor(code: ErrorCode, message?: string, details?: unknown, headers?: Record<string, string>) {
    super(message ?? ERRORS[code].message);
    this.name = 'AppError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.details = details;
    this.headers = headers;
  }
}

export function isErrorCode(code: string): code is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERRORS, code);
}

/** The problem JSON body used on every HTTP error response. */
export interface ProblemBody {
  error: { code: ErrorCode; message: string; details: unknown; request_id: string | null };
}

export function problem(code: ErrorCode, requestId: string | null, message?: string, details?: unknown): ProblemBody {
  return { error: { code, message: message ?? ERRORS[code].message, details: details ?? null, request_id: requestId } };
}
