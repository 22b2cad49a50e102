/**
 * Twilio REST stand-in: `POST /2010-04-01/Accounts/{AccountSid}/Calls.json` as api.twilio.com speaks it
 * (HTTP Basic auth with the account SID and auth token, form-encoded body with To, From, Twiml,
 * StatusCallback, StatusCallbackEvent; 201 with a Call resource; 401 with Twilio's error body on bad auth).
 * It checks the request and records it for the test.
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface RecordedCall { accountSid: string; auth: string | null; contentType: string | null; form: Record<string, string[]> }

export interface TwilioRestStandIn {
  url: string;
  calls: RecordedCall[];
  close(): Promise<void>;
}

export async function startTwilioRest(accountSid: string, authToken: string): Promise<TwilioRestStandIn> {
  const calls: RecordedCall[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const m = /^\/2010-04-01\/Accounts\/(AC[0-9a-f]{32})\/Calls\.json$/.exec(req.url ?? '');
      if (req.method !== 'POST' || !m) return send(404, { code: 20404, message: 'The requested resource was not found', status: 404 });
      const form: Record<string, string[]> = {};
      for (const [k, v] of new URLSearchParams(Buffer.concat(chunks).toString('utf8'))) (form[k] ??= []).push(v);
      calls.push({ accountSid: m[1]!, auth: req.headers.authorization ?? null, contentType: req.headers['content-type'] ?? null, form });
      const expected = 'Basic ' + Buffer.from(`${accountSid}:${authToken}`).toString('base64');
      if (req.headers.authorization !== expected || m[1] !== accountSid) return send(401, { code: 20003, message: 'Authenticate', more_info: 'https://www.twilio.com/docs/errors/20003', status: 401 });
      if (!form.To?.[0] || !form.From?.[0] || !(form.Twiml?.[0] || form.Url?.[0])) {
        return send(400, { code: 21201, message: 'No \'To\' number is specified', status: 400 });
      }
      const sid = 'CA' + randomBytes(16).toString('hex');
      send(201, {
        sid, account_sid: accountSid, to: form.To[0], from: form.From[0], status: 'queued', direction: 'outbound-api', api_version: '2010-04-01',
        date_created: new Date().toUTCString(), uri: `/2010-04-01/Accounts/${accountSid}/Calls/${sid}.json`,
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
}
