/** Masking of personal identifiers for callers without `personal_data:read`. */
import type { Principal } from '../types.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** "+4915112345678" -> "+49*********78"; user ids (UUIDs, already pseudonymous) pass. */
export function maskId(s: string): string {
  if (UUID.test(s) || s.startsWith('ps_')) return s;
  if (s.length <= 4) return '*'.repeat(s.length);
  return s.slice(0, 3) + '*'.repeat(s.length - 5) + s.slice(-2);
}

export function maySeePersonalData(p: Principal): boolean {
  return p.permissions.has('personal_data:read');
}

export function maskerFor(p: Principal): (s: string) => string {
  return maySeePersonalData(p) ? (s) => s : maskId;
}
