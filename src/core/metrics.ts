/**
 * Counters the core keeps and the Prometheus text any transport serves
 * them in (a transport adds its own samples, such as connections).
 * @module
 */

/** What the core counts, since it started. */
export interface CoreCounters {
  /** Events published (accepted by the engine). */
  published: number;
  /** Publishes the engine refused. */
  publishFailures: number;
  /** Subscriptions opened (every origin). */
  subscriptionsOpened: number;
  /** Events replayed from history to resuming subscribers. */
  replayed: number;
  /** Gap signals sent to resuming subscribers. */
  gaps: number;
}

/** One metric in Prometheus' text exposition. */
export interface MetricSample {
  /** Full metric name, e.g. `trpc_pubsub_subscriptions`. */
  readonly name: string;
  readonly help: string;
  readonly type: 'gauge' | 'counter';
  readonly value: number;
}

/** Prometheus text exposition (format 0.0.4) of `samples`. */
export function renderMetrics(samples: readonly MetricSample[]): string {
  const lines: string[] = [];
  for (const sample of samples) {
    lines.push(`# HELP ${sample.name} ${sample.help}`, `# TYPE ${sample.name} ${sample.type}`, `${sample.name} ${sample.value}`);
  }
  return `${lines.join('\n')}\n`;
}
