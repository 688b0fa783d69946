/**
 * Herald's Prometheus metrics (prom-client), one registry per service instance so that several
 * services in one process (tests) do not share counters. Components get the Metrics object and
 * count what they do; the gauges of stored state (registrations per state, outbox rows per status)
 * are read from the database when scraped, so every node reports the same cluster-wide figures.
 *
 * Served at `GET /metrics` behind the admin token (docs/metrics.md lists every series).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Where the scrape-time gauges come from. */
export interface MetricsSources {
  /** Every state a registration can be in, so a state with none reports 0, not nothing. */
  registrationStates: readonly string[];
  registrationsByState(): Promise<Partial<Record<string, number>>>;
  outboxByStatus(): Promise<Record<string, number>>;
}

export class Metrics {
  readonly registry = new Registry();

  /** Exchange callbacks by answer: ok, unsubscribe, client_fault (400/413/415), server_fault (500). */
  readonly callbacks = new Counter({
    name: 'herald_ews_callbacks_total',
    help: 'EWS SendNotification callbacks received, by the answer Herald gave',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly eventsEnqueued = new Counter({
    name: 'herald_outbox_events_enqueued_total',
    help: 'Outbox events written (new mail, badge refresh, checkin), after de-duplication',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly watermarkGaps = new Counter({
    name: 'herald_watermark_gaps_total',
    help: "Notifications whose PreviousWatermark was not the last one Herald saw: Exchange's events were missed; a badge refresh was queued",
    registers: [this.registry],
  });

  readonly pushes = new Counter({
    name: 'herald_pushes_total',
    help: 'Push requests to APNs, FCM or a relay, by outcome (sent, unregistered, retry, failed)',
    labelNames: ['provider', 'result'] as const,
    registers: [this.registry],
  });

  readonly pushLatency = new Histogram({
    name: 'herald_push_request_seconds',
    help: 'Time the push service took to answer one push request',
    labelNames: ['provider'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly notificationDelay = new Histogram({
    name: 'herald_notification_delay_seconds',
    help: "From Exchange's callback being stored to the push being accepted by the push service",
    labelNames: ['kind'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800],
    registers: [this.registry],
  });

  readonly subscriptionTransitions = new Counter({
    name: 'herald_subscription_transitions_total',
    help: 'Subscription health changes made by the watchdog and the delivery workers, by new state',
    labelNames: ['to'] as const,
    registers: [this.registry],
  });

  readonly checkinPushesQueued = new Counter({
    name: 'herald_checkin_pushes_queued_total',
    help: 'checkin pushes queued, by reason (silent subscription, refused credentials)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  /**
   * Microsoft Graph notifications (change and lifecycle items) by what Herald did with them:
   * accepted, or rejected as client_state (wrong clientState), unknown_subscription,
   * unknown_registration, validation_token (rich notification's tokens not valid) or
   * encrypted_content (tampered or undecryptable resource data).
   */
  readonly graphNotifications = new Counter({
    name: 'herald_graph_notifications_total',
    help: 'Microsoft Graph notification items received, by result (accepted or why rejected)',
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });

  readonly graphLifecycleEvents = new Counter({
    name: 'herald_graph_lifecycle_events_total',
    help: 'Accepted Graph lifecycle notifications, by event (reauthorizationRequired, subscriptionRemoved, missed)',
    labelNames: ['event'] as const,
    registers: [this.registry],
  });

  readonly graphRenewals = new Counter({
    name: 'herald_graph_subscription_renewals_total',
    help: 'Graph subscription maintenance by the renewal job and check-ins: action (renew, recreate, ask_device, delete) and result (ok, failed, gone)',
    labelNames: ['action', 'result'] as const,
    registers: [this.registry],
  });

  readonly watchdogRuns = new Counter({
    name: 'herald_watchdog_runs_total',
    help: 'Watchdog passes this node ran while holding the watchdog lease',
    registers: [this.registry],
  });

  readonly watchdogLastRun = new Gauge({
    name: 'herald_watchdog_last_run_timestamp_seconds',
    help: 'When this node last completed a watchdog pass (0: never)',
    registers: [this.registry],
  });

  constructor(options: { sources?: MetricsSources; processMetrics?: boolean } = {}) {
    const { sources } = options;
    if (options.processMetrics !== false)
      collectDefaultMetrics({ register: this.registry, prefix: 'herald_' });
    if (!sources) return;
    new Gauge({
      name: 'herald_registrations',
      help: 'Registrations by subscription state (cluster-wide, read from the database when scraped)',
      labelNames: ['state'] as const,
      registers: [this.registry],
      async collect() {
        const counts = await sources.registrationsByState();
        for (const state of sources.registrationStates) this.set({ state }, counts[state] ?? 0);
      },
    });
    new Gauge({
      name: 'herald_outbox_events',
      help: 'Outbox events by status (cluster-wide, read from the database when scraped)',
      labelNames: ['status'] as const,
      registers: [this.registry],
      async collect() {
        const counts = await sources.outboxByStatus();
        for (const [status, n] of Object.entries(counts)) this.set({ status }, n);
      },
    });
  }

  /** The exposition text, for `GET /metrics`. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
