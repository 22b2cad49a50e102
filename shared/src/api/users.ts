import { z } from 'zod';
import { Role } from './common.ts';
import { Email, Password, UserView } from './auth.ts';

export const CreateUserRequest = z.object({ email: Email, password: Password, role: Role }).strict();
export const UpdateUserRequest = z.object({ role: Role }).strict();
export const UserList = z.object({ data: z.array(UserView) });
