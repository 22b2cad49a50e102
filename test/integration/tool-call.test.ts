/**
 * A provider's tool call end to end, through the real parts: the OpenAI stand-in asks for
 * `astro.natal_chart`; the gateway (started with provider config, as `npm start` and main.ts do)
 * posts it to the control plane's `/internal/tools` with its service credential; the chart computed
 * by Swiss Ephemeris goes back to the provider as `function_call_output`, and the gateway publishes
 * a `tool.call` audit event.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { startTestControl } from '../helpers/control-app.ts';
import { credit, grant } from '../control-ext/helpers.ts';
import { startOpenAIStandIn } from '../stand-ins/openai.ts';
import { utteranceAt } from '../stand-ins/lib/audio.ts';
import { until } from '../stand-ins/lib/script.ts';
import { startGateway } from '../../gateway/src/server.ts';
import { gatewayConfig } from '../../gateway/src/config.ts';
import { providersConfig } from '../../gateway/src/providers/config.ts';
import { InProcessCommandBus, InProcessEventBus, type GatewayEvent } from '../../shared/src/bus/index.ts';
import { createLogger } from '../../shared/src/logger.ts';

t.test('a provider tool call runs in the control plane and its result returns to the provider', async (t) => {
  const serviceToken = randomBytes(24).toString('hex');
  const c = await startTestControl(t, { CONTROL_SERVICE_TOKEN: serviceToken });
  const args = { date: '1990-05-09', time: '14:30', latitude: 52.52, longitude: 13.405 };
  const si = await startOpenAIStandIn({ script: [{ kind: 'tool', name: 'astro.natal_chart', args }, { kind: 'speak', utterance: 1 }], userTranscript: 'my chart please' });
  t.teardown(() => si.close());

  const events = new InProcessEventBus();
  const received: GatewayEvent[] = [];
  events.consume(async (ev) => void received.push(ev));
  const gw = await startGateway({
    config: gatewayConfig({ GATEWAY_PORT: 0, GATEWAY_HOST: '127.0.0.1' }),
    jwks: new URL('/.well-known/jwks.json', c.url),
    commands: new InProcessCommandBus(),
    events,
    logger: createLogger('gateway-test', 'silent'),
    providers: providersConfig({
      OPENAI_API_KEY: si.apiKey, OPENAI_BASE_URL: si.baseURL, PROVIDER_EXTRA_CA_PEM: si.ca,
      TOOLS_BASE_URL: c.url, GATEWAY_SERVICE_TOKEN: serviceToken,
    }),
  });
  t.teardown(() => gw.close());

  const owner = await c.signup();
  await credit(c, owner.access, 50_000_000);
  for (const purpose of ['voice_processing', 'provider:openai']) await grant(c, owner.access, purpose, 'astro-caller');
  const s = await c.req('POST', '/v1/sessions', {
    token: owner.access,
    body: { provider: 'openai', participant: { external_id: 'astro-caller' }, agent: { tools: ['astro.natal_chart'] } },
  });
  t.equal(s.status, 201, JSON.stringify(s.body));

  const ws = new WebSocket(`${gw.url}/v1/audio?token=${encodeURIComponent(s.body.token)}`);
  t.teardown(() => ws.terminate());
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const started = new Promise<void>((resolve) => ws.on('message', (m, binary) => { if (!binary && String(m).includes('"session.started"')) resolve(); }));
  ws.send(JSON.stringify({ type: 'session.start' }));
  await started;
  // one caller turn (speech then silence) so the stand-in's VAD starts its scripted response: the tool call
  const speech = utteranceAt('conv00', 0, 24000).pcm;
  const turn = new Int16Array(speech.length + 24000);
  turn.set(speech);
  for (let i = 0; i < turn.length; i += 480) {
    ws.send(Buffer.from(turn.buffer, turn.byteOffset + i * 2, Math.min(480, turn.length - i) * 2));
    if (i % 4800 === 0) await new Promise((r) => setTimeout(r, 5));
  }
  const conn = () => si.connections[0]!;
  await until(() => si.connections.length > 0 && conn().toolOutputs.length > 0, 15000, 'the tool output at the provider');
  const out = JSON.parse(conn().toolOutputs[0]!.output) as { bodies: Array<{ body: string; sign: string }> };
  t.equal(out.bodies[0]!.body, 'sun', 'the natal chart came back');
  t.equal(out.bodies[0]!.sign, 'taurus', 'the Sun on 1990-05-09 is in Taurus');
  await until(() => received.some((e) => e.type === 'tool.call'), 5000, 'tool.call event');
  const ev = received.find((e) => e.type === 'tool.call') as Extract<GatewayEvent, { type: 'tool.call' }>;
  t.equal(ev.name, 'astro.natal_chart');
  t.equal(ev.ok, true);
  t.equal(ev.session_id, s.body.session_id);
});
