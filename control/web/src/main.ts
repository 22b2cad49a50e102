/**
 * The web app at /app: sign up or in, grant consents, start a session with a provider, talk, watch
 * live features and transcript, invite a second participant, read session history and reports.
 * A join link (`/app#join=<token>&gw=<url>`) opens the guest view of a two-person session.
 */
import type { ProviderName } from '../../../shared/src/token.ts';
import { Api, ApiError, type Me, type Report, type SessionInfo } from './api.ts';
import { Call, type CallStats } from './call.ts';
import { CONSENT_VERSION, consentsFor, sha256Hex } from './consents.ts';
import {
  $, el, flash, credits, renderFeatures, addTranscript, addNudge, renderUsage, renderSessions, renderReport, nameOf,
} from './views.ts';

/** What the page exposes for people debugging and for the end-to-end test. */
interface PageState {
  stats: CallStats | null;
  sessionId: string | null;
  participant: string | null;
  started: boolean;
  endedReason: string | null;
  errors: string[];
  lastFeatures: unknown;
  reportShown: string | null;
}
/** shared/src/token.ts PROVIDERS, kept here so jose and zod stay out of the bundle (the type keeps them in step) */
const PROVIDERS: readonly ProviderName[] = ['echo', 'openai', 'elevenlabs', 'ultravox'] satisfies Array<ProviderName>;

const page: PageState = { stats: null, sessionId: null, participant: null, started: false, endedReason: null, errors: [], lastFeatures: null, reportShown: null };
(window as unknown as { switchboard: PageState }).switchboard = page;

const api = new Api();
let me: Me | null = null;
let call: Call | null = null;
const reports = new Map<string, Report>();

function show(view: 'auth' | 'app' | 'guest'): void {
  $('auth').hidden = view !== 'auth';
  $('call').hidden = view === 'auth';
  $('history').hidden = view !== 'app';
  $('guest').hidden = view !== 'guest';
  $('setup').hidden = view === 'guest';
  $('logout').hidden = view !== 'app';
  $('who').hidden = view !== 'app';
}

function message(e: unknown): string {
  if (e instanceof ApiError) return `${e.message} (${e.code})`;
  return e instanceof Error ? e.message : String(e);
}

async function guard(button: HTMLButtonElement | null, fn: () => Promise<void>): Promise<void> {
  flash(null);
  if (button) button.disabled = true;
  try {
    await fn();
  } catch (e) {
    page.errors.push(message(e));
    flash(message(e));
  } finally {
    if (button) button.disabled = false;
  }
}

// ------------------------------------------------------------------ account

async function enterApp(): Promise<void> {
  me = await api.me();
  $('who').textContent = `${me.user?.email ?? me.api_key?.name ?? ''} · ${me.tenant.name}`;
  show('app');
  await renderConsents();
  await refreshHistory();
}

function formValue(form: HTMLFormElement, name: string): string {
  return (form.elements.namedItem(name) as HTMLInputElement).value;
}

$<HTMLFormElement>('signup').addEventListener('submit', (e) => {
  e.preventDefault();
  const f = e.currentTarget as HTMLFormElement;
  void guard(f.querySelector('button'), async () => {
    await api.signup(formValue(f, 'email'), formValue(f, 'password'), formValue(f, 'tenant'));
    await enterApp();
  });
});

$<HTMLFormElement>('login').addEventListener('submit', (e) => {
  e.preventDefault();
  const f = e.currentTarget as HTMLFormElement;
  void guard(f.querySelector('button'), async () => {
    await api.login(formValue(f, 'email'), formValue(f, 'password'));
    await enterApp();
  });
});

$<HTMLButtonElement>('logout').addEventListener('click', () => void guard(null, async () => {
  await call?.hangUp();
  await api.logout();
  me = null;
  show('auth');
}));
api.onLoggedOut = () => show('auth');

// ------------------------------------------------------------------ provider + consents

const providerSelect = $<HTMLSelectElement>('provider');
for (const p of PROVIDERS) providerSelect.append(el('option', { value: p }, p === 'echo' ? 'echo (built in, no keys needed)' : p));
providerSelect.value = 'echo';
function providerNote(): void {
  $('provider-note').textContent = providerSelect.value === 'echo'
    ? 'The echo agent speaks your last sentence back to you: a sound check that needs no API keys.'
    : `${providerSelect.value} works when the gateway has its API key configured; otherwise the session reports an error.`;
}
providerNote();
providerSelect.addEventListener('change', () => { providerNote(); void renderConsents(); });

async function renderConsents(): Promise<void> {
  const granted = new Map<string, { version: string | null; created_at: string }>();
  try {
    for (const c of (await api.consents()).current) if (c.granted) granted.set(c.purpose, c);
  } catch { /* shown as not granted */ }
  const box = $('consent-list');
  box.replaceChildren(...consentsFor(providerSelect.value).map((c) => {
    const id = `consent-${c.purpose.replace(/[^a-z0-9]/g, '-')}`;
    const g = granted.get(c.purpose);
    const current = g?.version === CONSENT_VERSION;
    const input = el('input', { type: 'checkbox', id, 'data-purpose': c.purpose, 'aria-describedby': `${id}-text` });
    if (current) { input.checked = true; input.disabled = true; }
    return el('div', { class: 'consent' },
      el('div', { class: 'check' }, input, el('label', { for: id }, `${c.title}${c.required ? ' (required)' : ''}${current ? ' — granted' : ''}`)),
      el('p', { id: `${id}-text`, class: 'consent-text' }, c.text));
  }));
}

/** Grant every ticked consent not yet on record; refuse to start without the required ones. */
async function grantConsents(): Promise<void> {
  for (const c of consentsFor(providerSelect.value)) {
    const box = document.querySelector<HTMLInputElement>(`input[data-purpose="${c.purpose}"]`)!;
    if (!box.checked) {
      if (c.required) throw new Error(`Please read and tick "${c.title}" to start a session.`);
      continue;
    }
    if (box.disabled) continue;
    await api.grantConsent(c.purpose, CONSENT_VERSION, await sha256Hex(c.text));
  }
}

// ------------------------------------------------------------------ the call

function setLive(live: boolean): void {
  $<HTMLButtonElement>('start').disabled = live;
  for (const id of ['commit', 'mute', 'end']) $<HTMLButtonElement>(id).disabled = !live;
}

function status(text: string): void {
  $('status').textContent = text;
}

async function startCall(gatewayUrl: string, token: string): Promise<void> {
  $('transcript').replaceChildren();
  $('nudges').replaceChildren();
  page.started = false;
  page.endedReason = null;
  status('Connecting…');
  const c = new Call({
    onStarted: (ev) => {
      page.started = true;
      page.participant = ev.participant;
      status(`Live with ${ev.provider} — speak now. Session ${ev.session_id.slice(0, 8)}…`);
    },
    onTranscript: (ev) => addTranscript(ev.role, ev.text, ev.role === 'agent' ? 'Agent' : nameOf(ev.participant ?? page.participant ?? '', page.participant), ev.final),
    onFeatures: (f) => { page.lastFeatures = f; renderFeatures(f, page.participant); },
    onNudge: (n) => addNudge(n, page.participant),
    onError: (code, msg) => { page.errors.push(`${code}: ${msg}`); flash(`${msg} (${code})`); },
    onEnded: (reason) => {
      page.started = false;
      page.endedReason = reason;
      status(`Session ended: ${reason}.`);
      setLive(false);
      $('join').hidden = true;
      if (me) void afterCall();
    },
    onStats: (s) => {
      page.stats = s;
      $('c-sent').textContent = `${s.framesSent} frames`;
      $('c-recv').textContent = `${s.framesReceived} frames (${(s.bytesReceived / 48000).toFixed(1)} s)`;
      $('c-played').textContent = `${(s.playedMs / 1000).toFixed(1)} s, ${s.acks} acks`;
    },
  });
  call = c;
  page.stats = c.stats;
  await c.start(gatewayUrl, token);
  setLive(true);
}

$<HTMLFormElement>('setup').addEventListener('submit', (e) => {
  e.preventDefault();
  void guard($<HTMLButtonElement>('start'), async () => {
    if (!me?.user) throw new Error('sign in first');
    await grantConsents();
    const twoPerson = $<HTMLInputElement>('two-person').checked;
    const guestId = `guest-${crypto.randomUUID().slice(0, 8)}`;
    if (twoPerson) {
      // the guest's consent is recorded under their external id; the join page shows them the same text
      const text = consentsFor('echo')[0]!.text;
      await api.grantConsent('voice_processing', CONSENT_VERSION, await sha256Hex(text), { external_id: guestId });
    }
    const s = await api.createSession({
      provider: providerSelect.value as ProviderName,
      ...(twoPerson ? { participants: [{ user_id: me.user.id }, { external_id: guestId }] } : {}),
      metadata: { client: 'web' },
    });
    page.sessionId = s.session_id;
    await startCall(s.gateway_url, s.token);
    if (twoPerson) {
      const t = await api.mintToken(s.session_id, guestId);
      const link = `${location.origin}/app#join=${encodeURIComponent(t.token)}&gw=${encodeURIComponent(t.gateway_url)}`;
      const a = $<HTMLAnchorElement>('join-link');
      a.href = link;
      $('join').hidden = false;
      await renderConsents();
    }
  });
});

$<HTMLButtonElement>('copy-join').addEventListener('click', () => {
  void navigator.clipboard.writeText($<HTMLAnchorElement>('join-link').href).then(() => flash(null), () => flash('Copy failed: select the link and copy it.'));
});
$<HTMLButtonElement>('commit').addEventListener('click', () => call?.commit());
$<HTMLButtonElement>('mute').addEventListener('click', (e) => {
  const b = e.currentTarget as HTMLButtonElement;
  const muted = b.getAttribute('aria-pressed') !== 'true';
  b.setAttribute('aria-pressed', String(muted));
  b.textContent = muted ? 'Unmute' : 'Mute';
  call?.mute(muted);
});
$<HTMLButtonElement>('end').addEventListener('click', () => void guard(null, async () => {
  await call?.hangUp();
}));

const TERMINAL = new Set(['ended', 'failed', 'terminated']);

/** After hang-up: make sure the control plane has the session closed, then show its report. */
async function afterCall(): Promise<void> {
  const id = page.sessionId;
  if (!id) return;
  await guard(null, async () => {
    // the gateway reports the end over the bus; if the control plane has not heard within ~2 s, end it here
    let s = await api.session(id);
    for (let i = 0; i < 8 && !TERMINAL.has(s.status); i++) {
      await new Promise((r) => setTimeout(r, 250));
      s = await api.session(id);
    }
    if (!TERMINAL.has(s.status)) {
      try { s = await api.terminate(id); } catch (e) { if (!(e instanceof ApiError && e.code === 'CONFLICT')) throw e; }
    }
    // the gateway's features summary follows the session's end by a moment
    for (let i = 0; i < 8 && s.status === 'ended'; i++) {
      const r = await api.report(id).catch(() => null);
      if (r === null || r.features !== null) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    reports.delete(id);
    await refreshHistory();
    await showReport(id);
  });
}

// ------------------------------------------------------------------ history

async function refreshHistory(): Promise<void> {
  const [balance, usage, list] = await Promise.all([
    api.balance().catch(() => null),
    api.usage().catch(() => null),
    api.sessions(20),
  ]);
  $('balance').textContent = balance ? `Balance: ${credits(balance.balance_micro)}` : 'Balance: not available';
  renderUsage(usage);
  await Promise.all(list.data.filter((s) => TERMINAL.has(s.status) && !reports.has(s.id)).slice(0, 10).map(async (s) => {
    try { reports.set(s.id, await api.report(s.id)); } catch { /* shown from the session record */ }
  }));
  renderSessions(list.data, reports, (id) => void guard(null, () => showReport(id)));
}

async function showReport(id: string): Promise<void> {
  const s: SessionInfo = await api.session(id);
  let r: Report | null = null;
  try { r = await api.report(id); reports.set(id, r); } catch { r = reports.get(id) ?? null; }
  renderReport(s, r, page.participant);
  page.reportShown = id;
}
$<HTMLButtonElement>('refresh').addEventListener('click', () => void guard($<HTMLButtonElement>('refresh'), refreshHistory));

// ------------------------------------------------------------------ boot

async function boot(): Promise<void> {
  const hash = new URLSearchParams(location.hash.slice(1));
  const joinToken = hash.get('join');
  const gw = hash.get('gw');
  if (joinToken && gw) {
    show('guest');
    $('guest-consent').textContent = consentsFor('echo')[0]!.text;
    $<HTMLButtonElement>('guest-join').addEventListener('click', (e) => void guard(e.currentTarget as HTMLButtonElement, async () => {
      $('guest').hidden = true;
      await startCall(gw, joinToken);
    }));
    return;
  }
  if (api.signedIn) {
    try {
      await enterApp();
      return;
    } catch { /* fall through to the login screen */ }
  }
  show('auth');
}

void boot();
