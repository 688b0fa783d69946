/**
 * The gateway's Prometheus series (docs/metrics.md, "Gateway"), on their own registry: the
 * gateway is its own process, served on its admin listener.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export class GatewayMetrics {
  readonly registry = new Registry();

  readonly requests = new Counter({
    name: 'herald_gateway_requests_total',
    help: 'Requests answered by the gateway, by route, ActiveSync command or EWS operation, and HTTP status',
    labelNames: ['route', 'command', 'status'] as const,
    registers: [this.registry],
  });

  readonly blocked = new Counter({
    name: 'herald_gateway_blocked_total',
    help: 'Requests refused by the compliance policy, by route and by what decided (rule or default)',
    labelNames: ['route', 'by'] as const,
    registers: [this.registry],
  });

  readonly certificateFailures = new Counter({
    name: 'herald_gateway_certificate_failures_total',
    help: 'Requests refused because of the client certificate, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly tlsErrors = new Counter({
    name: 'herald_gateway_tls_errors_total',
    help: 'TLS handshakes that failed before a request (protocol or cipher mismatch, aborted)',
    registers: [this.registry],
  });

  readonly upstreamLatency = new Histogram({
    name: 'herald_gateway_upstream_seconds',
    help: 'Time from sending a request to Exchange to its response headers (long polls included)',
    labelNames: ['route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60, 600, 3600],
    registers: [this.registry],
  });

  readonly upstreamErrors = new Counter({
    name: 'herald_gateway_upstream_errors_total',
    help: 'Requests that got no answer from Exchange, by kind (unreachable, timeout, tls)',
    labelNames: ['route', 'kind'] as const,
    registers: [this.registry],
  });

  readonly longPolls = new Gauge({
    name: 'herald_gateway_long_polls_open',
    help: 'ActiveSync Ping/Sync and EWS GetStreamingEvents requests being held open now',
    labelNames: ['command'] as const,
    registers: [this.registry],
  });

  readonly inflight = new Gauge({
    name: 'herald_gateway_requests_in_flight',
    help: 'Requests being proxied now',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'herald_gateway_' });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
