/**
 * Live sessions of this gateway: admission (per-tenant and per-IP limits, participant slots), session
 * creation on first join, bus commands, and the periodic usage and features ticks (one timer each for
 * the whole gateway, not one per session).
 */
import type { ToolDispatcher } from '../providers/tools.ts';
import type { ErrorCode } from '../../../shared/src/errors.ts';
import type { SessionClaims } from '../../../shared/src/token.ts';
import type { CommandBus, EventBus, GatewayCommand, EndReason } from '../../../shared/src/bus/index.ts';
import type { Logger } from '../../../shared/src/logger.ts';
import type { GatewayConfig } from '../config.ts';
import type { GatewayMetrics } from '../metrics.ts';
import { createProvider } from '../providers/registry.ts';
import { Session, type SessionDeps } from './session.ts';
import type { Participant } from './participant.ts';
import type { Pacer } from './playout.ts';
import type { ClientChannel, AnalyzerFactory } from './types.ts';

export interface RegistryDeps {
  config: GatewayConfig;
  metrics: GatewayMetrics;
  pacer: Pacer;
  events: EventBus | null;
  logger: Logger;
  analyzers: AnalyzerFactory | null;
  /** runs provider tool calls (control plane `/internal/tools`); null: tools are refused */
  tools: ToolDispatcher | null;
}

/** how many ended session ids are remembered so a stale token cannot restart a finished session */
const ENDED_MEMORY = 10_000;

export class SessionRegistry {
  readonly sessions = new Map<string, Session>();
  /** admitted participants per session id, and from which IPs they connect */
  private readonly slots = new Map<string, SessionSlots>();
  /** live sessions (with at least one participant admitted) per tenant */
  private readonly perTenant = new Map<string, number>();
  /** live sessions with at least one participant connected from the IP */
  private readonly perIp = new Map<string, number>();
  private readonly endedIds = new Set<string>();
  private readonly deps: RegistryDeps;
  /**
   * What every session gets: one object, made once. (A copy per session left `this.deps.pacer` and
   * friends megamorphic on the per-frame path.)
   */
  private readonly sessionDeps: SessionDeps;
  private usageTimer: NodeJS.Timeout | null = null;
  private featuresTimer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private emptyWaiters: Array<() => void> = [];

  constructor(deps: RegistryDeps) {
    this.deps = deps;
    this.sessionDeps = { ...deps, onEnded: (s) => this.onEnded(s) };
  }

  start(commands: CommandBus | null): void {
    this.usageTimer = setInterval(() => {
      for (const s of this.sessions.values()) s.tickUsage(false);
    }, this.deps.config.GATEWAY_USAGE_TICK_MS);
    this.usageTimer.unref();
    if (this.deps.analyzers !== null) {
      this.featuresTimer = setInterval(() => {
        for (const s of this.sessions.values()) s.tickFeatures();
      }, 250);
      this.featuresTimer.unref();
    }
    if (commands) this.unsubscribe = commands.subscribe((cmd) => this.handleCommand(cmd));
  }

  stop(): void {
    if (this.usageTimer) clearInterval(this.usageTimer);
    if (this.featuresTimer) clearInterval(this.featuresTimer);
    this.unsubscribe?.();
    this.usageTimer = this.featuresTimer = null;
    this.unsubscribe = null;
  }

  /** connected participants (a session with two people counts two) */
  get connections(): number {
    let n = 0;
    for (const s of this.slots.values()) n += s.subs.size;
    return n;
  }

  /**
   * Admission for one participant connection; on success its slot and limit counts are held until
   * `release`. The limits count sessions, not connections: the second person joining a session their
   * tenant (or IP) already has live takes no new place. Returns the refusal code, or null when admitted.
   */
  admit(claims: SessionClaims, ip: string | null): ErrorCode | null {
    const { config } = this.deps;
    if (!claims.participants.includes(claims.sub)) return 'TOKEN_CLAIMS_INVALID';
    if (this.endedIds.has(claims.sid)) return 'CONFLICT';
    const taken = this.slots.get(claims.sid);
    if (taken?.subs.has(claims.sub)) return 'SESSION_FULL';
    if (taken === undefined && (this.perTenant.get(claims.tid) ?? 0) >= config.GATEWAY_MAX_SESSIONS_PER_TENANT) return 'TOO_MANY_SESSIONS';
    const newForIp = ip !== null && !taken?.ips.has(ip);
    if (newForIp && (this.perIp.get(ip) ?? 0) >= config.GATEWAY_MAX_SESSIONS_PER_IP) return 'TOO_MANY_SESSIONS';
    const s = taken ?? { subs: new Set<string>(), ips: new Map<string, number>() };
    if (taken === undefined) {
      this.slots.set(claims.sid, s);
      inc(this.perTenant, claims.tid);
    }
    s.subs.add(claims.sub);
    if (ip !== null) {
      if (newForIp) inc(this.perIp, ip);
      inc(s.ips, ip);
    }
    return null;
  }

  release(claims: SessionClaims, ip: string | null): void {
    const s = this.slots.get(claims.sid);
    if (!s?.subs.delete(claims.sub)) return;
    if (ip !== null && dec(s.ips, ip) === 0) dec(this.perIp, ip);
    if (s.subs.size === 0) {
      this.slots.delete(claims.sid);
      dec(this.perTenant, claims.tid);
    }
    this.notifyIfEmpty();
  }

  /** join the session the claims name (creating it on first join); the slot must be admitted */
  attach(claims: SessionClaims, channel: ClientChannel): { session: Session; participant: Participant } {
    let session = this.sessions.get(claims.sid);
    if (!session) {
      const provider = createProvider(claims, this.deps.config);
      session = new Session(claims, provider, this.sessionDeps);
      this.sessions.set(claims.sid, session);
      const participant = session.join(claims.sub, channel);
      void session.start();
      return { session, participant };
    }
    return { session, participant: session.join(claims.sub, channel) };
  }

  handleCommand(cmd: GatewayCommand): void {
    const s = this.sessions.get(cmd.session_id);
    if (!s) return;
    if (cmd.type === 'terminate') s.end(cmd.reason);
    else s.inject(cmd.text);
  }

  endAll(reason: EndReason): void {
    for (const s of [...this.sessions.values()]) s.end(reason);
  }

  /** resolves once no participant is connected */
  whenEmpty(): Promise<void> {
    if (this.connections === 0 && this.sessions.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.emptyWaiters.push(resolve));
  }

  /** agent audio held by the gateway for all sessions: queues plus socket buffers */
  bufferedBytes(): number {
    let n = 0;
    for (const s of this.sessions.values()) for (const p of s.participants) n += p.playout.queuedBytes + p.channel.bufferedAmount();
    return n;
  }

  private onEnded(s: Session): void {
    if (this.sessions.get(s.id) === s) this.sessions.delete(s.id);
    this.endedIds.add(s.id);
    if (this.endedIds.size > ENDED_MEMORY) this.endedIds.delete(this.endedIds.values().next().value!);
    this.notifyIfEmpty();
  }

  private notifyIfEmpty(): void {
    if (this.connections !== 0 || this.sessions.size !== 0) return;
    const w = this.emptyWaiters;
    this.emptyWaiters = [];
    for (const f of w) f();
  }
}

interface SessionSlots {
  /** participants connected */
  subs: Set<string>;
  /** connected participants per client IP */
  ips: Map<string, number>;
}

function inc(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

/** decrements (deleting at zero); returns the count left */
function dec(m: Map<string, number>, k: string): number {
  const v = (m.get(k) ?? 0) - 1;
  if (v <= 0) m.delete(k);
  else m.set(k, v);
  return v < 0 ? 0 : v;
}
