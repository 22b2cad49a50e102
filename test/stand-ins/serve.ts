/**
 * Runs provider stand-ins in their own process for benches (`bench:load --provider ...`):
 *
 *   tsx test/stand-ins/serve.ts [--loopback] [--format pcm16|mulaw]
 *
 * Starts the OpenAI (TLS), ElevenLabs and Ultravox stand-ins on ephemeral ports and prints one JSON
 * line with what a gateway needs, as provider config env (see gateway/src/providers/config.ts):
 *   {"env":{"OPENAI_API_KEY":…,"OPENAI_BASE_URL":…,"PROVIDER_EXTRA_CA_PEM":…,"ELEVENLABS_API_KEY":…,
 *    "ELEVENLABS_BASE_URL":…,"ELEVENLABS_AGENT_ID":…,"ELEVENLABS_INPUT_FORMAT":…,"ELEVENLABS_OUTPUT_FORMAT":…,
 *    "ULTRAVOX_API_KEY":…,"ULTRAVOX_BASE_URL":…}}
 * then serves until SIGTERM/SIGINT. `--loopback` answers every caller frame with the same audio at
 * once (the relay bench); without it the stand-ins run their default scripted turns.
 */
import { startOpenAIStandIn } from './openai.ts';
import { startElevenLabsStandIn, type ElevenLabsFormat } from './elevenlabs.ts';
import { startUltravoxStandIn } from './ultravox.ts';

const args = process.argv.slice(2);
const loopback = args.includes('--loopback');
const fi = args.indexOf('--format');
const elFormat: ElevenLabsFormat = fi >= 0 && args[fi + 1] === 'mulaw' ? 'ulaw_8000' : 'pcm_16000';

const openai = await startOpenAIStandIn({ loopback });
const elevenlabs = await startElevenLabsStandIn({ loopback, agents: { bench_agent: { inputFormat: elFormat, outputFormat: elFormat } } });
const ultravox = await startUltravoxStandIn({ loopback });

process.stdout.write(`${JSON.stringify({
  env: {
    OPENAI_API_KEY: openai.apiKey,
    OPENAI_BASE_URL: openai.baseURL,
    PROVIDER_EXTRA_CA_PEM: openai.ca,
    ELEVENLABS_API_KEY: elevenlabs.apiKey,
    ELEVENLABS_BASE_URL: elevenlabs.baseUrl,
    ELEVENLABS_AGENT_ID: 'bench_agent',
    ELEVENLABS_INPUT_FORMAT: elFormat,
    ELEVENLABS_OUTPUT_FORMAT: elFormat,
    ULTRAVOX_API_KEY: ultravox.apiKey,
    ULTRAVOX_BASE_URL: ultravox.baseUrl,
  },
})}\n`);

async function shutdown(): Promise<void> {
  await Promise.all([openai.close(), elevenlabs.close(), ultravox.close()]);
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
