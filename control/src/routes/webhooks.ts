/** /v1/webhooks: endpoints for `session.ended` and `report.ready` (secret shown once), delivery log, manual redeliver. */
import { z } from 'zod';
import { createEndpoint, deleteEndpoint, listDeliveries, listEndpoints, redeliver, WEBHOOK_EVENTS } from '../services/webhooks-out.ts';
import type { RouteBuilder } from './builder.ts';

const CreateWebhook = z.object({ url: z.string().url().max(2000), events: z.array(z.enum(WEBHOOK_EVENTS)).min(1) }).strict();
const WebhookView = z.object({ id: z.string(), url: z.string(), events: z.array(z.string()), created_at: z.string() });
const WebhookCreated = WebhookView.extend({ secret: z.string() });
const WebhookList = z.object({ data: z.array(WebhookView) });
const Delivery = z.object({
  id: z.string(), endpoint_id: z.string(), event_type: z.string(), status: z.enum(['pending', 'delivered', 'dead']), attempts: z.number().int(),
  next_attempt_at: z.string().nullable(), last_status: z.number().int().nullable(), last_error: z.string().nullable(),
  created_at: z.string(), delivered_at: z.string().nullable(), payload: z.unknown(),
});
const DeliveryList = z.object({ data: z.array(Delivery) });

export function webhookRoutes(b: RouteBuilder) {
  const r = b.router();
  const d = b.deps;
  const auth = 'api_keys:manage' as const; // integration settings: the same trust as server credentials
  b.route(r, { method: 'post', path: '/v1/webhooks', summary: 'Register a webhook endpoint (the signing secret is shown once)', tag: 'webhooks', auth, body: CreateWebhook, response: WebhookCreated, status: 201 },
    (_ctx, { body, principal }) => createEndpoint(d.db, d.config, principal.tenantId, body));
  b.route(r, { method: 'get', path: '/v1/webhooks', summary: 'List webhook endpoints (no secrets)', tag: 'webhooks', auth, response: WebhookList },
    async (_ctx, { principal }) => ({ data: await listEndpoints(d.db, principal.tenantId) }));
  b.route(r, { method: 'delete', path: '/v1/webhooks/:id', summary: 'Delete a webhook endpoint', tag: 'webhooks', auth, response: WebhookView },
    (_ctx, { params, principal }) => deleteEndpoint(d.db, principal.tenantId, params.id!));
  b.route(r, { method: 'get', path: '/v1/webhooks/:id/deliveries', summary: 'Delivery log of an endpoint, newest first', tag: 'webhooks', auth, response: DeliveryList },
    async (_ctx, { params, principal }) => ({ data: await listDeliveries(d.db, principal.tenantId, params.id!) }));
  b.route(r, { method: 'post', path: '/v1/webhooks/:id/deliveries/:delivery/redeliver', summary: 'Queue a delivery again now (fresh 24 h retry window)', tag: 'webhooks', auth, response: Delivery },
    (_ctx, { params, principal }) => redeliver(d.db, d.config, principal.tenantId, params.id!, params.delivery!));
  return r;
}
