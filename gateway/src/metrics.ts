/**
 * Prometheus metrics, one registry per gateway instance (tests run several in one process).
 *
 * Per-frame counts go into plain numbers (`FastCounter`) that the Prometheus counters read at scrape
 * time: prom-client hashes the label object on every `inc`, even on a label-bound child, which costs a
 * string allocation per call — six per relayed frame. The relay latency histogram is sampled (one frame
 * in RELAY_SAMPLE) for the same reason; the distribution is unaffected.
 */
import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client';

export type TransportLabel = 'web' | 'twilio' | 'realtime';

/** a counter that is just a number; exported to Prometheus when scraped */
export class FastCounter {
  value = 0;
  reported = 0;
  inc(v = 1): void {
    this.value += v;
  }
}

export interface TransportCounters {
  framesIn: FastCounter;
  framesOut: FastCounter;
  bytesIn: FastCounter;
  bytesOut: FastCounter;
  dropped: FastCounter;
}

/** observe one frame in this many in the relay latency histogram */
export const RELAY_SAMPLE = 64;

type CounterKey = keyof TransportCounters;

function fastCollector(perTransport: Map<TransportLabel, TransportCounters>, key: CounterKey) {
  return function collect(this: Counter<'transport'>): void {
    for (const [t, c] of perTransport) {
      const fc = c[key];
      const delta = fc.value - fc.reported;
      if (delta > 0) {
        this.inc({ transport: t }, delta);
        fc.reported = fc.value;
      }
    }
  };
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly activeSessions: Gauge<'transport' | 'provider'>;
  readonly framesIn: Counter<'transport'>;
  readonly framesOut: Counter<'transport'>;
  readonly bytesIn: Counter<'transport'>;
  readonly bytesOut: Counter<'transport'>;
  readonly droppedFrames: Counter<'transport'>;
  readonly relayLatency: Histogram<'direction'>;
  readonly providerErrors: Counter<'provider' | 'code'>;
  readonly upgradeRejections: Counter<'reason'>;
  readonly protocolErrors: Counter<'transport' | 'code'>;
  readonly outputBuffered: Gauge;
  /** label-bound children of relayLatency for the per-frame paths */
  readonly relayIn: Histogram.Internal<'direction'>;
  readonly relayOut: Histogram.Internal<'direction'>;
  private readonly perTransport = new Map<TransportLabel, TransportCounters>();

  constructor(opts: { defaultMetrics: boolean; bufferedBytes: () => number }) {
    const registers = [this.registry];
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'gateway_' });
    this.activeSessions = new Gauge({ name: 'gateway_active_sessions', help: 'Connected session participants', labelNames: ['transport', 'provider'], registers });
    const pt = this.perTransport;
    this.framesIn = new Counter({ name: 'gateway_frames_in_total', help: 'Inbound 20 ms audio frames', labelNames: ['transport'], registers, collect: fastCollector(pt, 'framesIn') });
    this.framesOut = new Counter({ name: 'gateway_frames_out_total', help: 'Outbound 20 ms audio frames written to sockets', labelNames: ['transport'], registers, collect: fastCollector(pt, 'framesOut') });
    this.bytesIn = new Counter({ name: 'gateway_bytes_in_total', help: 'Inbound WebSocket payload bytes', labelNames: ['transport'], registers, collect: fastCollector(pt, 'bytesIn') });
    this.bytesOut = new Counter({ name: 'gateway_bytes_out_total', help: 'Outbound WebSocket payload bytes', labelNames: ['transport'], registers, collect: fastCollector(pt, 'bytesOut') });
    this.droppedFrames = new Counter({ name: 'gateway_dropped_frames_total', help: 'Agent audio frames dropped because a client could not keep up', labelNames: ['transport'], registers, collect: fastCollector(pt, 'dropped') });
    this.relayLatency = new Histogram({
      name: 'gateway_relay_latency_seconds',
      help: 'Time a frame spends inside the gateway (socket message to provider, provider audio to queue); one frame in 16 is sampled',
      labelNames: ['direction'],
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05],
      registers,
    });
    this.relayIn = this.relayLatency.labels('in');
    this.relayOut = this.relayLatency.labels('out');
    this.providerErrors = new Counter({ name: 'gateway_provider_errors_total', help: 'Errors reported by AI providers', labelNames: ['provider', 'code'], registers });
    this.upgradeRejections = new Counter({ name: 'gateway_upgrade_rejections_total', help: 'WebSocket upgrades refused', labelNames: ['reason'], registers });
    this.protocolErrors = new Counter({ name: 'gateway_protocol_errors_total', help: 'Malformed or out-of-order client input', labelNames: ['transport', 'code'], registers });
    const buffered = opts.bufferedBytes;
    this.outputBuffered = new Gauge({
      name: 'gateway_output_buffered_bytes',
      help: 'Agent audio queued in the gateway plus bytes buffered in sockets, all sessions',
      registers,
      collect() {
        this.set(buffered());
      },
    });
  }

  transport(t: TransportLabel): TransportCounters {
    let c = this.perTransport.get(t);
    if (!c) {
      c = { framesIn: new FastCounter(), framesOut: new FastCounter(), bytesIn: new FastCounter(), bytesOut: new FastCounter(), dropped: new FastCounter() };
      this.perTransport.set(t, c);
    }
    return c;
  }
}
