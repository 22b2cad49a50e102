/**
 * Requests to URLs a tenant chose (HTTP tools, webhook endpoints). A tenant must not be able to make
 * the control plane call what only it can reach: loopback, the private network, link-local (cloud
 * metadata at 169.254.169.254), and the other special-purpose ranges are refused unless the operator
 * allows private egress (EGRESS_ALLOW_PRIVATE, e.g. for development against local services).
 *
 * The address is checked where the socket connects (the `lookup` of the request), not in a DNS
 * query of our own before it, so a name that resolves to a public address first and to a private one
 * at connect time (DNS rebinding) is still refused. Redirects are never followed: a public endpoint
 * cannot bounce the request inward.
 */
import http from 'node:http';
import https from 'node:https';
import dns from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/** IANA special-purpose ranges (RFC 6890 and successors) a tenant URL may not reach. */
const SPECIAL = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) SPECIAL.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 127], // unspecified and loopback
  ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001::', 23], ['2001:db8::', 32], ['2002::', 16],
  ['fc00::', 7], ['fe80::', 10], ['ff00::', 8],
] as const) SPECIAL.addSubnet(net, prefix, 'ipv6');

/** true when `address` (an IP literal) is loopback, private, link-local or otherwise special-purpose */
export function isSpecialAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return SPECIAL.check(address, 'ipv4');
  if (family !== 6) return true; // not an address at all: refuse rather than guess
  // IPv4-mapped (::ffff:a.b.c.d, also written ::ffff:7f00:1) is the IPv4 address in disguise
  const mapped = /^::ffff:(?:0:)?([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (mapped) {
    const hi = parseInt(mapped[1]!, 16);
    const lo = parseInt(mapped[2]!, 16);
    return SPECIAL.check(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, 'ipv4');
  }
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (dotted) return SPECIAL.check(dotted[1]!, 'ipv4');
  return SPECIAL.check(address, 'ipv6');
}

export class EgressBlockedError extends Error {
  override readonly name = 'EgressBlockedError';
}

export interface EgressPolicy {
  /** allow loopback, private and other special-purpose addresses (development, tests) */
  allowPrivate: boolean;
}

/** dns.lookup that refuses special-purpose addresses; handles both the single and the `all` form */
const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '', 0);
    const bad = addresses.find((a) => isSpecialAddress(a.address));
    if (bad || addresses.length === 0) {
      return callback(new EgressBlockedError(`${hostname} resolves to ${bad?.address ?? 'nothing'}, which is not a public address`), '', 0);
    }
    if (options.all) (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, addresses);
    else callback(null, addresses[0]!.address, addresses[0]!.family);
  });
};

export interface EgressResponse {
  status: number;
  body: string;
}

/**
 * POST `body` to a tenant's `url` under `policy`: http(s) only, no redirects followed (a 3xx comes
 * back as it is), a response body read up to `maxResponseBytes`, and the whole exchange bounded by
 * `timeoutMs`. Throws EgressBlockedError for a refused address, or the network error.
 */
export function egressPost(
  url: string,
  opts: { headers: Record<string, string>; body: string; timeoutMs: number; maxResponseBytes?: number },
  policy: EgressPolicy,
): Promise<EgressResponse> {
  const target = new URL(url);
  if (target.protocol !== 'http:' && target.protocol !== 'https:') return Promise.reject(new EgressBlockedError(`${target.protocol} URLs are not allowed`));
  const host = target.hostname.replace(/^\[|\]$/g, '');
  // an IP literal never reaches `lookup`, so it is checked here
  if (!policy.allowPrivate && isIP(host) !== 0 && isSpecialAddress(host)) {
    return Promise.reject(new EgressBlockedError(`${host} is not a public address`));
  }
  const limit = opts.maxResponseBytes ?? 1024 * 1024;
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(target, {
      method: 'POST',
      headers: { ...opts.headers, 'content-length': String(Buffer.byteLength(opts.body)) },
      lookup: policy.allowPrivate ? undefined : guardedLookup,
      signal: AbortSignal.timeout(opts.timeoutMs),
    }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > limit) {
          reject(new Error(`response larger than ${limit} bytes`));
          res.destroy();
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}
