/**
 * The provider conformance suite (conformance.ts) run against every adapter: echo (PCM 24 kHz and
 * μ-law), openai (PCM 24 kHz for native clients, μ-law passthrough for Twilio), elevenlabs
 * (pcm_16000 and ulaw_8000 agents) and ultravox (24 kHz native, 8 kHz Twilio), each against its
 * stand-in.
 */
import t from 'tap';
import { runConformance } from './conformance.ts';
import { echoTarget, elevenLabsTarget, openAITarget, ultravoxTarget } from './targets.ts';

const only = process.env.CONFORMANCE_ONLY;
const targets = [
  echoTarget('web'),
  echoTarget('twilio'),
  openAITarget('web'),
  openAITarget('twilio'),
  elevenLabsTarget('pcm_16000', 'web'),
  elevenLabsTarget('ulaw_8000', 'twilio'),
  ultravoxTarget('web'),
  ultravoxTarget('twilio'),
];
for (const target of targets) {
  if (only !== undefined && !target.name.startsWith(only)) continue;
  t.test(target.name, async (t) => runConformance(t, target));
}
