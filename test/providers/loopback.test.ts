/**
 * The stand-ins as a bench runs them: `test/stand-ins/serve.ts --loopback` in its own process, its
 * printed env turned into provider config, and each adapter getting its own audio straight back
 * (byte for byte) through the real provider protocol.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import t, { type Test } from 'tap';
import { providersConfig } from '../../gateway/src/providers/config.ts';
import { OpenAIProvider } from '../../gateway/src/providers/openai/index.ts';
import { ElevenLabsProvider } from '../../gateway/src/providers/elevenlabs/index.ts';
import { UltravoxProvider } from '../../gateway/src/providers/ultravox/index.ts';
import type { Provider } from '../../gateway/src/providers/types.ts';
import { until } from '../stand-ins/lib/script.ts';
import { encode, utteranceAt } from '../stand-ins/lib/audio.ts';
import { claimsFor, encodingOf, logger, RecordingSink } from './conformance.ts';
import { frames } from './lib/ws-client.ts';

const child = spawn(process.execPath, ['--import', 'tsx', 'test/stand-ins/serve.ts', '--loopback'], { stdio: ['ignore', 'pipe', 'inherit'] });
t.teardown(async () => {
  if (child.exitCode === null) {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
});
const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
const { env } = JSON.parse(line) as { env: Record<string, string> };
const config = providersConfig(env);

async function roundTrip(t: Test, p: Provider): Promise<void> {
  const sink = new RecordingSink();
  await p.connect({ claims: claimsFor(p.name, 'web'), sink, logger, signal: new AbortController().signal });
  t.teardown(() => p.close());
  const f = p.inputFormat;
  const pcm = utteranceAt('conv00', 0, f.sampleRate).pcm;
  const sent: Buffer[] = [];
  for (const fr of frames(pcm.subarray(0, pcm.length - (pcm.length % ((f.sampleRate / 1000) * 100))), f.sampleRate, 20)) {
    const b = encode(fr, encodingOf(f));
    sent.push(b);
    p.sendAudio(b);
  }
  p.commitInput();
  const all = Buffer.concat(sent);
  await until(() => sink.audioBytes() >= all.length, 5000, 'the audio back');
  t.ok(Buffer.concat(sink.audio.map((a) => a.bytes)).equals(all), `${p.name}: the same bytes came back`);
}

t.test('openai loopback', (t) => roundTrip(t, new OpenAIProvider(claimsFor('openai', 'web'), config)));
t.test('elevenlabs loopback', (t) => roundTrip(t, new ElevenLabsProvider(claimsFor('elevenlabs', 'web', 'elevenlabs:bench_agent'), config)));
t.test('ultravox loopback', (t) => roundTrip(t, new UltravoxProvider(claimsFor('ultravox', 'web'), config)));
