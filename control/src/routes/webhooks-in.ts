/** Inbound provider webhooks: /v1/webhooks/elevenlabs (post-call transcript and analysis, HMAC-signed). */
import { z } from 'zod';
import { AppError } from '../../../shared/src/errors.ts';
import { readRawBody } from './raw-body.ts';
import { ElevenLabsPostCall, requireElevenLabsSignature, storeElevenLabsPostCall } from '../services/webhooks-in.ts';
import type { RouteBuilder } from './builder.ts';

const Result = z.object({ matched: z.boolean(), stored: z.boolean(), reason: z.string().optional() });

export function webhookInRoutes(b: RouteBuilder) {
  const r = b.router();
  const d = b.deps;
  b.publicRoute(r, {
    method: 'post', path: '/v1/webhooks/elevenlabs', auth: null, tag: 'webhooks', body: ElevenLabsPostCall, response: Result, errors: ['SIGNATURE_INVALID'],
    summary: 'ElevenLabs post-call webhook: ElevenLabs-Signature (t=..,v0=HMAC-SHA256 over "t.rawbody", 30 min window) verified over the raw body',
  }, async (ctx) => {
    // the signature covers the bytes sent, never a re-serialisation of the parsed JSON
    const raw = await readRawBody(ctx as never, 5 * 1024 * 1024); // as app.ts WEBHOOK_BODY_LIMIT
    requireElevenLabsSignature(d.config.ELEVENLABS_WEBHOOK_SECRET, ctx.get('elevenlabs-signature') || undefined, raw);
    const parsed = ElevenLabsPostCall.safeParse(ctx.request.body);
    if (!parsed.success) throw new AppError('VALIDATION_FAILED', 'not an ElevenLabs webhook payload');
    return storeElevenLabsPostCall({ db: d.db, config: d.config }, parsed.data);
  });
  return r;
}
