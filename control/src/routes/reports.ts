/** Session report, transcript, recordings, and the tenant's sessions CSV. */
import { z } from 'zod';
import { AppError } from '../../../shared/src/errors.ts';
import { RecordingList, ReportCsvQuery, SessionReport, TranscriptView } from '../../../shared/src/api/reports.ts';
import { actorOf } from '../types.ts';
import { sessionReport, sessionsCsv } from '../services/reports.ts';
import { readTranscript } from '../services/transcripts.ts';
import { listRecordings, readRecording } from '../services/recordings.ts';
import type { RouteBuilder } from './builder.ts';

const UUID = z.string().uuid();

export function reportRoutes(b: RouteBuilder) {
  const r = b.router();
  const d = b.deps;
  b.route(r, {
    method: 'get', path: '/v1/sessions/:id/report', summary: 'Session report: duration, billed seconds, cost, participants, consent snapshot, content availability, features summary',
    tag: 'reports', auth: 'reports:read', response: SessionReport,
  }, (_ctx, { params, principal }) => sessionReport(d.db, principal, params.id!));
  b.route(r, {
    method: 'get', path: '/v1/reports/sessions.csv', summary: 'Sessions report as streamed text/csv (same fields as the session report), filtered by created_at',
    tag: 'reports', auth: 'reports:read', query: ReportCsvQuery, response: z.string().describe('text/csv'),
  }, async (ctx, { query, principal }) => {
    ctx.type = 'text/csv; charset=utf-8';
    ctx.set('Content-Disposition', 'attachment; filename="sessions.csv"');
    ctx.body = sessionsCsv(d.db, principal, query, ctx.state.log);
    return undefined;
  });
  b.route(r, {
    method: 'get', path: '/v1/sessions/:id/transcript', summary: 'Decrypted transcript of a session (audited read)', tag: 'sessions', auth: 'transcripts:read', response: TranscriptView,
  }, (ctx, { params, principal }) => readTranscript(d.db, d.config, principal, actorOf(ctx), params.id!));
  b.route(r, {
    method: 'get', path: '/v1/sessions/:id/recordings', summary: 'Recordings of a session (metadata)', tag: 'sessions', auth: 'transcripts:read', response: RecordingList,
  }, (_ctx, { params, principal }) => listRecordings(d.db, principal, params.id!));
  b.route(r, {
    method: 'get', path: '/v1/sessions/:id/recordings/:recording_id', summary: 'Download one recording, decrypted (audited read)', tag: 'sessions', auth: 'transcripts:read',
  }, async (ctx, { params, principal }) => {
    if (!UUID.safeParse(params.recording_id).success) throw new AppError('NOT_FOUND', 'no such recording');
    const rec = await readRecording({ db: d.db, config: d.config }, principal, actorOf(ctx), params.id!, params.recording_id!);
    ctx.type = rec.contentType;
    ctx.body = rec.data;
    return undefined;
  });
  return r;
}
