import { z } from 'zod';
import { Id, Role, Permission, Timestamp } from './common.ts';

export const Email = z.string().trim().toLowerCase().email().max(254);
export const Password = z.string().min(10).max(200);

export const SignupRequest = z.object({
  email: Email,
  password: Password,
  tenant_name: z.string().trim().min(1).max(200),
}).strict();

export const LoginRequest = z.object({ email: Email, password: z.string().min(1).max(200) }).strict();
export const RefreshRequest = z.object({ refresh_token: z.string().min(10).max(200) }).strict();
export const LogoutRequest = RefreshRequest;

export const UserView = z.object({ id: Id, email: z.string(), role: Role, created_at: Timestamp });
export type UserView = z.infer<typeof UserView>;
export const TenantView = z.object({ id: Id, name: z.string(), created_at: Timestamp });
export type TenantView = z.infer<typeof TenantView>;

export const TokenResponse = z.object({
  token_type: z.literal('Bearer'),
  access_token: z.string(),
  expires_in: z.number().int(),
  refresh_token: z.string(),
  user: UserView,
  tenant: TenantView,
});
export type TokenResponse = z.infer<typeof TokenResponse>;

export const MeResponse = z.object({
  principal: z.enum(['user', 'api_key']),
  tenant: TenantView,
  user: UserView.nullable(),
  api_key: z.object({ id: Id, name: z.string() }).nullable(),
  permissions: z.array(Permission),
});
