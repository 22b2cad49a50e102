/** Standalone control plane (`npm run start:control`): config from the environment, in-process bus. */
import { createLogger } from '../../shared/src/logger.ts';
import { InProcessCommandBus } from '../../shared/src/bus/index.ts';
import { loadControlConfig } from './config.ts';
import { startControl } from './server.ts';

const config = loadControlConfig(process.env);
const logger = createLogger('control', config.LOG_LEVEL);
const control = await startControl({ config, commands: new InProcessCommandBus(), logger });
logger.info({ url: control.url, docs: `${control.url}/docs` }, 'control plane listening');
process.stdout.write(`control plane listening on ${control.url} (docs: ${control.url}/docs)\n`);

let stopping = false;
async function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  const timer = setTimeout(() => process.exit(1), 10_000);
  timer.unref();
  await control.close();
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
