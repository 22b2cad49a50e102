/** /v1/users: a tenant's users and their roles. */
import { UserView } from '../../../shared/src/api/auth.ts';
import { CreateUserRequest, UpdateUserRequest, UserList } from '../../../shared/src/api/users.ts';
import { AppError } from '../../../shared/src/errors.ts';
import { actorOf } from '../types.ts';
import { createUser, listUsers, getUser, changeRole } from '../services/users.ts';
import type { RouteBuilder } from './builder.ts';

export function userRoutes(b: RouteBuilder) {
  const r = b.router();
  const d = b.deps;
  b.route(r, { method: 'post', path: '/v1/users', summary: 'Add a user to the tenant with a role', tag: 'users', auth: 'users:manage', body: CreateUserRequest, response: UserView, status: 201 },
    (ctx, { body, principal }) => createUser(d, principal, actorOf(ctx), body));
  b.route(r, { method: 'get', path: '/v1/users', summary: 'List the tenant\'s users', tag: 'users', auth: 'users:read', response: UserList },
    async (ctx, { principal }) => ({ data: await listUsers(d, principal.tenantId, actorOf(ctx)) }));
  b.route(r, { method: 'get', path: '/v1/users/:id', summary: 'One user', tag: 'users', auth: 'users:read', response: UserView },
    async (ctx, { params, principal }) => {
      const u = await getUser(d, principal.tenantId, params.id!, actorOf(ctx));
      if (!u) throw new AppError('NOT_FOUND', 'no such user');
      return u;
    });
  b.route(r, { method: 'patch', path: '/v1/users/:id', summary: 'Change a user\'s role (audited)', tag: 'users', auth: 'users:manage', body: UpdateUserRequest, response: UserView },
    (ctx, { params, body, principal }) => changeRole(d, principal, actorOf(ctx), params.id!, body.role));
  return r;
}
