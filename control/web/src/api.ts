/**
 * The control-plane API as the web app uses it: same origin, bearer access token, one silent
 * refresh-token rotation on a 401. Types come from the shared zod schemas (type-only imports, so
 * nothing of zod ships in the bundle).
 */
import type { z } from 'zod';
import type { TokenResponse, MeResponse } from '../../../shared/src/api/auth.ts';
import type { CreateSessionRequest, CreateSessionResponse, SessionList, SessionTokenResponse, SessionView } from '../../../shared/src/api/sessions.ts';
import type { ConsentState } from '../../../shared/src/api/consents.ts';
import type { BalanceView, UsageReport } from '../../../shared/src/api/billing.ts';
import type { SessionReport } from '../../../shared/src/api/reports.ts';

export type Tokens = TokenResponse;
export type Me = z.infer<typeof MeResponse>;
export type Session = z.infer<typeof CreateSessionResponse>;
export type SessionInfo = SessionView;
export type Report = z.infer<typeof SessionReport>;
export type Usage = z.infer<typeof UsageReport>;
export type Balance = z.infer<typeof BalanceView>;
export type Consents = z.infer<typeof ConsentState>;
export type NewSession = Partial<z.input<typeof CreateSessionRequest>> & { provider: CreateSessionRequest['provider'] };

/** An API error with the catalogue code the server sent (or NETWORK / HTTP_<status>). */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

const STORE_KEY = 'switchboard.auth';

export class Api {
  private access: string | null = null;
  private refreshToken: string | null = null;
  /** called when the session cannot be refreshed (the UI goes back to the login screen) */
  onLoggedOut: () => void = () => {};

  constructor(private readonly base = '') {
    const saved = sessionStorage.getItem(STORE_KEY);
    if (saved) {
      try {
        const s = JSON.parse(saved) as { access: string; refresh: string };
        this.access = s.access;
        this.refreshToken = s.refresh;
      } catch { sessionStorage.removeItem(STORE_KEY); }
    }
  }

  get signedIn(): boolean {
    return this.access !== null;
  }

  private keep(t: Tokens): Tokens {
    this.access = t.access_token;
    this.refreshToken = t.refresh_token;
    sessionStorage.setItem(STORE_KEY, JSON.stringify({ access: this.access, refresh: this.refreshToken }));
    return t;
  }

  async signup(email: string, password: string, tenantName: string): Promise<Tokens> {
    return this.keep(await this.call<Tokens>('POST', '/v1/auth/signup', { email, password, tenant_name: tenantName }, false));
  }

  async login(email: string, password: string): Promise<Tokens> {
    return this.keep(await this.call<Tokens>('POST', '/v1/auth/login', { email, password }, false));
  }

  async logout(): Promise<void> {
    const refresh = this.refreshToken;
    this.access = null;
    this.refreshToken = null;
    sessionStorage.removeItem(STORE_KEY);
    if (refresh) await this.call('POST', '/v1/auth/logout', { refresh_token: refresh }, false).catch(() => {});
  }

  me(): Promise<Me> { return this.call('GET', '/v1/me'); }
  consents(): Promise<Consents> { return this.call('GET', '/v1/consents'); }
  grantConsent(purpose: string, version: string, textSha256: string, subject?: { external_id: string }): Promise<unknown> {
    return this.call('PUT', `/v1/consents/${encodeURIComponent(purpose)}`, { version, text_sha256: textSha256, ...(subject ? { subject } : {}) });
  }
  createSession(req: NewSession): Promise<Session> { return this.call('POST', '/v1/sessions', req); }
  mintToken(sessionId: string, participant: string): Promise<z.infer<typeof SessionTokenResponse>> {
    return this.call('POST', `/v1/sessions/${sessionId}/tokens`, { participant });
  }
  terminate(sessionId: string): Promise<SessionInfo> { return this.call('POST', `/v1/sessions/${sessionId}/terminate`); }
  sessions(limit = 20): Promise<z.infer<typeof SessionList>> { return this.call('GET', `/v1/sessions?limit=${limit}`); }
  session(id: string): Promise<SessionInfo> { return this.call('GET', `/v1/sessions/${id}`); }
  report(id: string): Promise<Report> { return this.call('GET', `/v1/sessions/${id}/report`); }
  balance(): Promise<Balance> { return this.call('GET', '/v1/billing/balance'); }
  usage(): Promise<Usage> { return this.call('GET', '/v1/usage?group_by=provider'); }

  private async call<T>(method: string, path: string, body?: unknown, auth = true, retried = false): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (auth && this.access) headers.authorization = `Bearer ${this.access}`;
    let res: Response;
    try {
      res = await fetch(this.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new ApiError(0, 'NETWORK', `cannot reach the control plane (${(e as Error).message})`);
    }
    if (res.status === 401 && auth && !retried && this.refreshToken) {
      if (await this.tryRefresh()) return this.call<T>(method, path, body, auth, true);
    }
    const text = await res.text();
    let data: unknown = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = text; }
    if (!res.ok) {
      const err = (data as { error?: { code?: string; message?: string } } | null)?.error;
      if (res.status === 401 && auth) {
        this.access = null;
        sessionStorage.removeItem(STORE_KEY);
        this.onLoggedOut();
      }
      throw new ApiError(res.status, err?.code ?? `HTTP_${res.status}`, err?.message ?? `${method} ${path} failed with ${res.status}`);
    }
    return data as T;
  }

  private async tryRefresh(): Promise<boolean> {
    try {
      this.keep(await this.call<Tokens>('POST', '/v1/auth/refresh', { refresh_token: this.refreshToken }, false, true));
      return true;
    } catch {
      return false;
    }
  }
}
