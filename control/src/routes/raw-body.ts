/** Read a request body as raw bytes (webhooks verify signatures over exactly what was sent). */
import type Koa from 'koa';
import { AppError } from '../../../shared/src/errors.ts';

export async function readRawBody(ctx: Koa.Context | Koa.ParameterizedContext<never>, limit: number): Promise<Buffer> {
  const pre = (ctx.request as { rawBody?: string }).rawBody;
  if (typeof pre === 'string') return Buffer.from(pre, 'utf8');
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of ctx.req) {
    n += (c as Buffer).length;
    if (n > limit) throw new AppError('PAYLOAD_TOO_LARGE');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}
