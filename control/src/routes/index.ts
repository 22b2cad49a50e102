/** Every resource router, in one list: a new resource adds its `xRoutes` function here. */
import type Router from '@koa/router';
import type { ControlState } from '../types.ts';
import type { RouteBuilder } from './builder.ts';
import { healthRoutes } from './health.ts';
import { authRoutes } from './auth.ts';
import { userRoutes } from './users.ts';
import { apiKeyRoutes } from './api-keys.ts';
import { consentRoutes } from './consents.ts';
import { auditRoutes } from './audit.ts';
import { sessionRoutes } from './sessions.ts';
import { billingRoutes } from './billing.ts';
import { usageRoutes } from './usage.ts';
import { reportRoutes } from './reports.ts';
import { phoneNumberRoutes } from './phone-numbers.ts';
import { twilioRoutes } from './twilio.ts';
import { callRoutes } from './calls.ts';
import { webhookInRoutes } from './webhooks-in.ts';
import { toolRoutes } from './tools.ts';
import { dataSubjectRoutes } from './data-subjects.ts';
import { webAppRoutes } from './web-app.ts';
import { opsRoutes } from './ops.ts';
import { webhookRoutes } from './webhooks.ts';

export const ROUTERS: ReadonlyArray<(b: RouteBuilder) => Router<ControlState>> = [
  healthRoutes, authRoutes, userRoutes, apiKeyRoutes, consentRoutes, auditRoutes, sessionRoutes,
  billingRoutes, webAppRoutes,
  usageRoutes, reportRoutes, phoneNumberRoutes, twilioRoutes, callRoutes, webhookInRoutes, toolRoutes, dataSubjectRoutes,
  opsRoutes, webhookRoutes,
];
