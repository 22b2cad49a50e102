import { z } from 'zod';

/**
 * Parse a service's environment once at boot with its zod schema and freeze the result.
 * The only place in the codebase that reads `process.env` (callers pass it in); every config
 * error names the variable to change.
 */
export function loadConfig<S extends z.ZodType>(schema: S, env: Record<string, string | undefined> = process.env): Readonly<z.infer<S>> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new Error(`Invalid configuration; fix these environment variables:\n${lines.join('\n')}`);
  }
  return Object.freeze(parsed.data);
}

/** zod helpers for env strings. */
export const envInt = (def: number) => z.coerce.number().int().default(def);
export const envBool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');
