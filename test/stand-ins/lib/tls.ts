/**
 * A self-signed certificate for TLS stand-ins (the `openai` SDK forces `wss://`, PROTOCOLS.md 2.6).
 *
 * Generated once per process with the system `openssl` (an EC P-256 key, SAN = 127.0.0.1 + localhost,
 * valid one day) and cached. Clients trust it by passing `ca: cert` to `ws`/`https` options; nothing
 * touches the process-wide trust store.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TlsMaterial {
  readonly key: string;
  readonly cert: string;
}

let cached: TlsMaterial | undefined;

export function selfSignedCert(): TlsMaterial {
  if (cached !== undefined) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'standin-tls-'));
  try {
    const keyPath = join(dir, 'key.pem');
    const certPath = join(dir, 'cert.pem');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyPath, '-out', certPath, '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ], { stdio: 'ignore' });
    cached = { key: readFileSync(keyPath, 'utf8'), cert: readFileSync(certPath, 'utf8') };
    return cached;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
