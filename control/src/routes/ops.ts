/** /v1/ops: operational views (admin): the live gateway pods of the registry and the event consumer's lag. */
import { z } from 'zod';
import { AppError } from '../../../shared/src/errors.ts';
import type { RouteBuilder } from './builder.ts';

const GatewayPod = z.object({
  pod_id: z.string(), address: z.string(), sessions: z.number().int(), draining: z.boolean(),
  started_at: z.string(), last_heartbeat: z.string(),
});
const GatewayList = z.object({ data: z.array(GatewayPod) });

export function opsRoutes(b: RouteBuilder) {
  const r = b.router();
  const d = b.deps;
  b.route(r, { method: 'get', path: '/v1/ops/gateways', summary: 'Live gateway pods (registry heartbeats): address, live sessions, draining', tag: 'ops', auth: 'users:manage', response: GatewayList },
    async () => {
      if (!d.registry) throw new AppError('UNAVAILABLE', 'this control plane runs without a gateway registry');
      const pods = await d.registry.list();
      return {
        data: pods.map((p) => ({
          pod_id: p.pod_id, address: p.address, sessions: p.sessions, draining: p.draining,
          started_at: new Date(p.started_at).toISOString(), last_heartbeat: new Date(p.last_heartbeat).toISOString(),
        })),
      };
    });
  return r;
}
