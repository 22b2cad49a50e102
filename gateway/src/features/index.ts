/**
 * Speaker features and live nudges (VAD, level, pitch, speaking rate, talk time, overlap,
 * interruptions, response gaps).
 *
 * ## Wiring it into a session (gateway/src/session)
 *
 * ```ts
 * import { ConversationAnalyzer } from '../features/index.ts';
 * // once per session; rules are the token's claims.agent.nudges (optional)
 * const fa = new ConversationAnalyzer({ sampleRate: 24000, rules: claims.agent.nudges });
 * const caller = fa.addParticipant(claims.sub, 'human');  // each human on their own connection
 * const agent = fa.addParticipant('agent', 'agent');       // provider audio, if there is an agent
 *
 * // per 20 ms frame (after reframe/resample, at sampleRate: fa.frameSamples samples), zero alloc:
 * fa.pushFrame(caller, pcm20ms, tMs);   // tMs = session-relative ms the audio was captured/received
 * fa.pushFrame(agent, pcm20ms, tMs);    // tMs = session-relative ms the audio is played to the caller
 *
 * // every 250 ms (one setInterval per session; allocation is fine here):
 * const { features, nudges } = fa.tick(sessionNowMs);
 * send(features);                        // FeaturesEvent, `type: 'features'` (to every client)
 * for (const n of nudges) sendTo(n.participant, n);  // NudgeEvent, `type: 'nudge'`
 *
 * fa.addTranscript(caller, text, startMs, endMs);     // on transcript.final (words per minute)
 * fa.removeParticipant(caller);                       // when a human leaves a multi-party session
 * const summary = fa.summary(sessionNowMs);           // at session end -> features.summary bus event
 * ```
 *
 * Frames of a participant should arrive in order at 20 ms steps of `tMs`; up to 80 ms of arrival
 * jitter is absorbed (the frame goes right after the previous one), longer gaps (muted, agent not
 * speaking) are silence, and a participant with no frames for 300 ms is taken as silent, so an agent
 * whose audio only flows while it talks needs nothing special. The steadiest clock for a caller is
 * the audio's own: first-frame arrival time + 20 ms per frame since, re-based after a real gap. Participants on different connections
 * are aligned on `tMs` (10 ms resolution). Conversation measures (talk time, overlap, interruptions)
 * are final ~0.6 s after the audio (300 ms segment delay + 300 ms idle slack); `speaking` and
 * `level_dbfs` in the live event are immediate. Nudges go to humans only.
 *
 * Accuracy and cost: `npm run eval:features`, `npm run bench:features`.
 */
export { ConversationAnalyzer, type ConversationAnalyzerOptions } from './analyzer.ts';
export { NudgeEngine, checkNudge, resolveNudgeRules, DEFAULT_NUDGE_RULES, emptyMeasures, type NudgeMeasures, type NudgeDecision } from './nudges.ts';
export { SpeakerAnalyzer, HOP_MS, type SpeakerAnalyzerOptions } from './speaker-analyzer.ts';
export { YinPitch, PITCH_MIN_HZ, PITCH_MAX_HZ } from './pitch.ts';
export { VoiceActivityDetector, DEFAULT_VAD_PARAMS, type VadParams } from './vad.ts';
export type { FeatureSampleRate } from './decimator.ts';
