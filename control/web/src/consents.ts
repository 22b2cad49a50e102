/**
 * Consent texts shown to the data subject. What the control plane records is the purpose, this
 * version, and the SHA-256 of the exact text shown (computed here with WebCrypto), so changing a
 * word means a new version.
 */
export const CONSENT_VERSION = '2026-11-web-1';

export interface ConsentText {
  purpose: string;
  title: string;
  text: string;
  required: boolean;
}

const TEXTS: Record<string, Omit<ConsentText, 'purpose'>> = {
  voice_processing: {
    title: 'Voice processing',
    required: true,
    text: 'I agree that Switchboard processes my voice during this session to let me talk with an AI agent and to measure '
      + 'how the conversation goes (talk time, speaking rate, level, overlap). Audio is processed live and not stored unless '
      + 'I also agree to recording.',
  },
  transcript_storage: {
    title: 'Transcript storage (optional)',
    required: false,
    text: 'I agree that the text transcript of my sessions is stored, encrypted, so I can read it back in the session history. '
      + 'I can withdraw this at any time.',
  },
};

function providerText(provider: string): Omit<ConsentText, 'purpose'> {
  return {
    title: `Transfer to ${provider}`,
    required: true,
    text: `I agree that my voice is sent to the third-party AI provider "${provider}" for the duration of the session, `
      + 'under that provider\'s terms, so its agent can answer me.',
  };
}

/** The consents a session with `provider` needs (plus the optional ones worth offering). */
export function consentsFor(provider: string): ConsentText[] {
  const list: ConsentText[] = [
    { purpose: 'voice_processing', ...TEXTS.voice_processing! },
    { purpose: 'transcript_storage', ...TEXTS.transcript_storage! },
  ];
  if (provider !== 'echo') list.splice(1, 0, { purpose: `provider:${provider}`, ...providerText(provider) });
  return list;
}

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}
