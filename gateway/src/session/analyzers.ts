/** The default per-session analyzer: the features engine's ConversationAnalyzer, rules from the token. */
import { ConversationAnalyzer } from '../features/index.ts';
import type { AnalyzerFactory } from './types.ts';

export const conversationAnalyzers: AnalyzerFactory = {
  create({ sampleRate, claims }) {
    return new ConversationAnalyzer({ sampleRate, rules: claims.agent.nudges });
  },
};
