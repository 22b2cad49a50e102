/**
 * Conformance targets: each adapter paired with its far side (a stand-in, or nothing for echo) and
 * the accessors the suite uses to see what that far side recorded.
 */
import { EchoAgent, parseEchoOptions } from '../../gateway/src/providers/echo/index.ts';
import { OpenAIProvider } from '../../gateway/src/providers/openai/index.ts';
import { ElevenLabsProvider } from '../../gateway/src/providers/elevenlabs/index.ts';
import { UltravoxProvider } from '../../gateway/src/providers/ultravox/index.ts';
import { providersConfig } from '../../gateway/src/providers/config.ts';
import { parseToolOutput } from '../../gateway/src/providers/tools.ts';
import type { TransportName } from '../../shared/src/token.ts';
import { utteranceAt } from '../stand-ins/lib/audio.ts';
import { startOpenAIStandIn } from '../stand-ins/openai.ts';
import { startElevenLabsStandIn, type ElevenLabsFormat } from '../stand-ins/elevenlabs.ts';
import { startUltravoxStandIn } from '../stand-ins/ultravox.ts';
import { claimsFor, type ConformanceTarget } from './conformance.ts';
import { concat } from './lib/ws-client.ts';

export const USER_TEXT = 'what is the weather like in Oslo';

const replyText = (u: number): string => utteranceAt('conv00', u, 24000).text;
const replyPcm = (u: number, rate: number): Int16Array => utteranceAt('conv00', u, rate).pcm;

export function echoTarget(transport: TransportName): ConformanceTarget {
  return {
    name: `echo/${transport}`,
    provider: 'echo',
    transport,
    network: false,
    bargeIn: 'speech_started',
    afterError: 'continues',
    expectedFormat: transport === 'twilio' ? { codec: 'mulaw', sampleRate: 8000 } : { codec: 'pcm16', sampleRate: 24000 },
    lengthToleranceMs: 400,
    async setup() {
      const claims = claimsFor('echo', transport, 'echo', []);
      const provider = new EchoAgent(parseEchoOptions(claims), { endOfTurnMs: 600, vadDbfs: -40, maxUtteranceMs: 15_000 });
      return {
        provider,
        received: () => null,
        userTranscript: null,
        agentTranscript: () => /^\(echo of \d+\.\d s\)$/,
        // the echo agent answers with the caller's own utterance (callerTurn speaks utterance 0)
        replyPcm: (_u, rate) => replyPcm(0, rate),
        script: () => {},
        truncations: () => null,
        toolResults: () => [],
        connections: () => 1,
        resumedWithHistory: () => false,
        drop: () => {},
        close: async () => {},
      };
    },
  };
}

export function openAITarget(transport: TransportName): ConformanceTarget {
  return {
    name: `openai/${transport}`,
    provider: 'openai',
    transport,
    network: true,
    bargeIn: 'speech_started',
    afterError: 'continues',
    expectedFormat: transport === 'twilio' ? { codec: 'mulaw', sampleRate: 8000 } : { codec: 'pcm16', sampleRate: 24000 },
    lengthToleranceMs: 20,
    async setup(_t, opts = {}) {
      const si = await startOpenAIStandIn({ script: opts.script, userTranscript: USER_TEXT });
      const config = providersConfig({ OPENAI_API_KEY: opts.badKey === true ? 'sk-wrong' : si.apiKey, OPENAI_BASE_URL: si.baseURL, PROVIDER_EXTRA_CA_PEM: si.ca });
      const provider = new OpenAIProvider(claimsFor('openai', transport), config);
      return {
        provider,
        received: () => concat(...si.connections.flatMap((c) => c.audioIn)),
        userTranscript: USER_TEXT,
        agentTranscript: replyText,
        replyPcm,
        script: (...turns) => si.script.push(...turns),
        truncations: () => si.connections.flatMap((c) => c.truncations.map((x) => x.audio_end_ms)),
        toolResults: () => si.connections.flatMap((c) => c.toolOutputs.map((o) => {
          const p = parseToolOutput(o.output);
          return p.ok ? { ok: true, text: p.text } : { ok: false, text: p.message };
        })),
        connections: () => si.connections.length,
        resumedWithHistory: () => {
          const second = si.connections[1];
          return second !== undefined && second.events.some((e) => e.type === 'conversation.item.create' && JSON.stringify(e).includes(USER_TEXT));
        },
        drop: () => si.dropAll(),
        close: () => si.close(),
      };
    },
  };
}

export function elevenLabsTarget(format: ElevenLabsFormat, transport: TransportName): ConformanceTarget {
  return {
    name: `elevenlabs/${format}/${transport}`,
    provider: 'elevenlabs',
    transport,
    network: true,
    bargeIn: 'interruption',
    afterError: 'ends',
    expectedFormat: format === 'ulaw_8000' ? { codec: 'mulaw', sampleRate: 8000 } : { codec: 'pcm16', sampleRate: 16000 },
    lengthToleranceMs: 20,
    async setup(_t, opts = {}) {
      const si = await startElevenLabsStandIn({ script: opts.script, userTranscript: USER_TEXT, agents: { agent_c: { private: true, inputFormat: format, outputFormat: format } } });
      // pcm_16000 comes from the gateway default config, ulaw_8000 from the agent ref's format suffix
      const config = providersConfig({ ELEVENLABS_API_KEY: opts.badKey === true ? 'xi-wrong' : si.apiKey, ELEVENLABS_BASE_URL: si.baseUrl });
      const ref = format === 'pcm_16000' ? 'elevenlabs:agent_c' : `elevenlabs:agent_c:${format}`;
      const provider = new ElevenLabsProvider(claimsFor('elevenlabs', transport, ref), config);
      return {
        provider,
        received: () => concat(...si.connections.flatMap((c) => c.audioIn)),
        userTranscript: USER_TEXT,
        agentTranscript: replyText,
        replyPcm,
        script: (...turns) => si.script.push(...turns),
        truncations: () => null,
        toolResults: () => si.connections.flatMap((c) => c.toolResults.map((r) => ({ ok: !r.is_error, text: r.result }))),
        connections: () => si.connections.length,
        resumedWithHistory: () => {
          const second = si.connections[1];
          return second !== undefined && second.messages.some((m) => m.type === 'contextual_update' && String(m.text).includes(USER_TEXT));
        },
        drop: () => si.dropAll(),
        close: () => si.close(),
      };
    },
  };
}

export function ultravoxTarget(transport: TransportName): ConformanceTarget {
  const rate = transport === 'twilio' ? 8000 : 24000;
  return {
    name: `ultravox/${transport}`,
    provider: 'ultravox',
    transport,
    network: true,
    bargeIn: 'interruption',
    afterError: 'reconnects',
    expectedFormat: { codec: 'pcm16', sampleRate: rate },
    lengthToleranceMs: 20,
    async setup(_t, opts = {}) {
      // the adapter makes the agent speak first; that greeting is scripted silent here
      const si = await startUltravoxStandIn({ script: [{ kind: 'silent' }, ...(opts.script ?? [])], userTranscript: USER_TEXT });
      const config = providersConfig({ ULTRAVOX_API_KEY: opts.badKey === true ? 'uv-wrong' : si.apiKey, ULTRAVOX_BASE_URL: si.baseUrl });
      const provider = new UltravoxProvider(claimsFor('ultravox', transport), config);
      return {
        provider,
        received: () => concat(...si.connections.flatMap((c) => c.audioIn)),
        userTranscript: USER_TEXT,
        agentTranscript: replyText,
        replyPcm,
        script: (...turns) => si.script.push(...turns),
        truncations: () => null,
        toolResults: () => si.connections.flatMap((c) => c.toolResults.map((r) => (typeof r.result === 'string' ? { ok: true, text: r.result } : { ok: false, text: String(r.errorMessage) }))),
        connections: () => si.connections.length,
        resumedWithHistory: () => si.calls.length >= 2 && si.calls[1]!.priorCallId === si.calls[0]!.callId,
        drop: () => si.dropAll(),
        close: () => si.close(),
      };
    },
  };
}
