/** /v1/billing: balance, ledger (cursor-paginated), credit grants, per-provider prices. */
import { BalanceView, GrantRequest, LedgerEntry, LedgerList, LedgerQuery, PriceList, PriceUpdate } from '../../../shared/src/api/billing.ts';
import { actorOf } from '../types.ts';
import { addCredit, getBalance, listLedger, listPrices, setPrices } from '../services/billing.ts';
import type { RouteBuilder } from './builder.ts';

export function billingRoutes(b: RouteBuilder) {
  const r = b.router();
  const d = b.deps;
  b.route(r, { method: 'get', path: '/v1/billing/balance', summary: 'Current credit balance (micro-credits)', tag: 'billing', auth: 'billing:read', response: BalanceView },
    (_ctx, { principal }) => getBalance(d.db, principal, d.config));
  b.route(r, { method: 'get', path: '/v1/billing/ledger', summary: 'Credit ledger, newest first (cursor pagination)', tag: 'billing', auth: 'billing:read', query: LedgerQuery, response: LedgerList },
    (_ctx, { query, principal }) => listLedger(d.db, principal, query));
  b.route(r, {
    method: 'post', path: '/v1/billing/grants', summary: 'Add a grant, purchase, refund or adjustment to the ledger (audited)', tag: 'billing',
    auth: 'billing:manage', body: GrantRequest, response: LedgerEntry, status: 201,
  }, (ctx, { body, principal }) => addCredit(d.db, principal, actorOf(ctx), d.config, body));
  b.route(r, { method: 'get', path: '/v1/billing/prices', summary: 'Price per provider second (tenant overrides and defaults)', tag: 'billing', auth: 'billing:read', response: PriceList },
    (_ctx, { principal }) => listPrices(d.db, principal));
  b.route(r, { method: 'put', path: '/v1/billing/prices', summary: 'Set prices per provider second (audited)', tag: 'billing', auth: 'billing:manage', body: PriceUpdate, response: PriceList },
    (ctx, { body, principal }) => setPrices(d.db, principal, actorOf(ctx), body.prices));
  return r;
}
