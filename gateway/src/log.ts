/** The gateway's root logger; sessions take a child with their ids bound once. */
import { createLogger, type Logger } from '../../shared/src/logger.ts';

export type { Logger };

export function createGatewayLogger(level: string): Logger {
  return createLogger('gateway', level);
}

export function sessionLogger(root: Logger, sessionId: string, participant: string, transport: string): Logger {
  return root.child({ session_id: sessionId, participant, transport });
}
