/** DOM rendering: small functions from data to elements (textContent only, never innerHTML with data). */
import type { LiveFeatures, Nudge } from './call.ts';
import type { Report, SessionInfo, Usage } from './api.ts';

export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing`);
  return el as T;
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

export function flash(message: string | null): void {
  const f = $('flash');
  f.textContent = message ?? '';
  f.hidden = !message;
}

export function credits(micro: number): string {
  return `${(micro / 1_000_000).toFixed(micro % 10_000 === 0 ? 2 : 4)} credits`;
}

export function seconds(s: number | null | undefined): string {
  if (s === null || s === undefined) return '—';
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

/** A labelled meter bar (role=meter so screen readers read the value). */
function bar(label: string, value: number, text: string, cls = ''): HTMLElement {
  const v = Math.max(0, Math.min(1, value));
  const fill = el('span', { class: `fill ${cls}` });
  fill.style.width = `${(v * 100).toFixed(1)}%`;
  return el('div', { class: 'bar-row' },
    el('span', { class: 'bar-label' }, label),
    el('span', { class: 'bar', role: 'meter', 'aria-label': label, 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(Math.round(v * 100)), 'aria-valuetext': text }, fill),
    el('span', { class: 'bar-value' }, text));
}

export function nameOf(participant: string, me: string | null): string {
  if (participant === 'agent') return 'Agent';
  if (participant === me) return 'You';
  return participant.startsWith('guest-') ? 'Guest' : `Participant ${participant.slice(0, 8)}`;
}

export function renderFeatures(f: LiveFeatures, me: string | null): void {
  const box = $('features');
  const rows: HTMLElement[] = [];
  let overlapAny = 0;
  for (const p of f.participants) {
    overlapAny = Math.max(overlapAny, p.overlap_ratio);
    const level = p.level_dbfs <= -100 ? 0 : (p.level_dbfs + 70) / 70; // -70..0 dBFS -> 0..1
    const rate = p.rate_syll_per_s;
    rows.push(el('div', { class: `participant${p.speaking ? ' speaking' : ''}`, 'data-participant': p.participant },
      el('h4', {}, `${nameOf(p.participant, me)}${p.speaking ? ' — speaking' : ''}`),
      bar('Talk share', p.talk_share, pct(p.talk_share), p.kind === 'agent' ? 'agent' : ''),
      bar('Level', level, p.level_dbfs <= -100 ? 'silent' : `${p.level_dbfs.toFixed(0)} dBFS`, 'level'),
      bar('Speaking rate', rate === null ? 0 : rate / 8, rate === null ? '—' : `${rate.toFixed(1)} syll/s`, 'rate'),
      bar('Overlap', p.overlap_ratio, pct(p.overlap_ratio), 'overlap'),
      el('p', { class: 'hint' }, `Talk time ${seconds(p.talk_time_s)} · interruptions ${p.interruptions}`)));
  }
  if (rows.length === 0) rows.push(el('p', { class: 'hint' }, 'No participants yet.'));
  rows.push(el('p', { class: 'hint', id: 'features-t' }, `at ${(f.t_ms / 1000).toFixed(1)} s`));
  box.replaceChildren(...rows);
}

export function addTranscript(role: string, text: string, who: string, final: boolean): void {
  const list = $('transcript');
  const last = list.lastElementChild as HTMLElement | null;
  // interim text of the same speaker replaces itself until the final one arrives
  if (last && last.dataset.final === 'false' && last.dataset.role === role) last.remove();
  const li = el('li', { class: role, 'data-role': role, 'data-final': String(final) }, el('strong', {}, `${who}: `), text);
  list.append(li);
  list.scrollTop = list.scrollHeight;
}

export function addNudge(n: Nudge, me: string | null): void {
  const who = n.participant ? nameOf(n.participant, me) : '';
  const li = el('li', { class: `nudge i${n.intensity ?? 1}` }, el('strong', {}, n.kind.replace(/_/g, ' ').toLowerCase()), ` ${who ? `(${who}) ` : ''}${n.message ?? ''}`);
  $('nudges').prepend(li);
}

export function renderUsage(u: Usage | null): void {
  const body = $('usage').querySelector('tbody')!;
  if (!u) {
    body.replaceChildren(el('tr', {}, el('td', { colspan: '4' }, 'Usage is not available on this server.')));
    return;
  }
  const rows = u.data.map((r) => el('tr', {}, el('td', {}, r.key), el('td', {}, String(r.sessions)), el('td', {}, seconds(r.billed_seconds)), el('td', {}, credits(r.cost_micro))));
  rows.push(el('tr', { class: 'total' }, el('th', { scope: 'row' }, 'Total'), el('td', {}, String(u.total.sessions)), el('td', {}, seconds(u.total.billed_seconds)), el('td', {}, credits(u.total.cost_micro))));
  body.replaceChildren(...rows);
}

export function durationOf(s: SessionInfo): number | null {
  if (!s.started_at) return null;
  const end = s.ended_at ? Date.parse(s.ended_at) : Date.now();
  return (end - Date.parse(s.started_at)) / 1000;
}

export function renderSessions(list: SessionInfo[], reports: Map<string, Report>, onReport: (id: string) => void): void {
  const body = $('sessions').querySelector('tbody')!;
  if (list.length === 0) {
    body.replaceChildren(el('tr', {}, el('td', { colspan: '6' }, 'No sessions yet.')));
    return;
  }
  body.replaceChildren(...list.map((s) => {
    const r = reports.get(s.id);
    const btn = el('button', { type: 'button', class: 'secondary small', 'data-session': s.id }, 'Report');
    btn.addEventListener('click', () => onReport(s.id));
    return el('tr', { 'data-session': s.id },
      el('td', {}, new Date(s.started_at ?? s.created_at).toLocaleString()),
      el('td', {}, s.provider),
      el('td', {}, s.end_reason ? `${s.status} (${s.end_reason})` : s.status),
      el('td', {}, seconds(r ? r.duration_s : durationOf(s))),
      el('td', {}, r ? credits(r.cost_micro) : '—'),
      el('td', {}, btn));
  }));
}

export function renderReport(s: SessionInfo, r: Report | null, me: string | null): void {
  const box = $('report');
  const facts: Array<[string, string]> = [
    ['Session', s.id],
    ['Status', s.end_reason ? `${s.status} (${s.end_reason})` : s.status],
    ['Provider', s.provider],
    ['Duration', seconds(r ? r.duration_s : durationOf(s))],
  ];
  if (r) facts.push(['Billed', seconds(r.billed_seconds)], ['Cost', credits(r.cost_micro)], ['Transcript', r.transcript.stored ? `${r.transcript.segments} segments stored` : 'not stored']);
  const dl = el('dl', { class: 'facts' });
  for (const [k, v] of facts) dl.append(el('dt', {}, k), el('dd', {}, v));
  const parts: HTMLElement[] = [el('h3', { id: 'report-title' }, 'Session report'), dl];
  const f = r?.features;
  if (f) {
    parts.push(el('p', {}, `Talk overlap ${pct(f.overlap_ratio)}, silence ${seconds(f.silence_s)}, ${f.interruptions.length} interruptions, response gap median ${f.response_gaps.median_ms === null ? '—' : `${Math.round(f.response_gaps.median_ms)} ms`}.`));
    const t = el('table', { class: 'table' }, el('caption', {}, 'Features summary'),
      el('thead', {}, el('tr', {}, ...['Participant', 'Talk time', 'Share', 'Turns', 'Rate', 'Level', 'Nudges'].map((h) => el('th', { scope: 'col' }, h)))));
    const tb = el('tbody');
    for (const p of f.participants) {
      tb.append(el('tr', {},
        el('th', { scope: 'row' }, nameOf(p.participant, me)), el('td', {}, seconds(p.talk_time_s)), el('td', {}, pct(p.talk_share)), el('td', {}, String(p.turns)),
        el('td', {}, p.speaking_rate_syll_per_s === null ? '—' : `${p.speaking_rate_syll_per_s.toFixed(1)} syll/s`),
        el('td', {}, p.speech_level_dbfs === null ? '—' : `${p.speech_level_dbfs.toFixed(0)} dBFS`), el('td', {}, String(p.nudges))));
    }
    t.append(tb);
    parts.push(t);
  } else {
    parts.push(el('p', { class: 'hint' }, r ? 'The features summary has not arrived yet.' : 'The full report is not available on this server; showing the session record.'));
  }
  box.replaceChildren(...parts);
  box.hidden = false;
}
