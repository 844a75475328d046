/** What a page says. Built by the orchestrators (pure data), sent by the `Pager` port. */
export type Severity = 'critical' | 'error' | 'warning' | 'info';

export interface Incident {
  /** Stable per key + version (+ server): a repeat updates the open incident instead of opening another. */
  readonly dedupKey: string;
  /** One line: what failed, where. */
  readonly summary: string;
  readonly severity: Severity;
  /** The affected resource (server id or key URI). */
  readonly source: string;
  /** ISO time the problem was first seen. */
  readonly since: string;
  /** ISO time the key version expires, when known: the deadline before servers go Inaccessible. */
  readonly deadline: string | undefined;
  /** What the operator should do next, in words. */
  readonly nextStep: string;
  /** Correlates with the audit trail (the orchestration instance id). */
  readonly correlationId: string;
  /** Extra facts (vault, key, versions, reason code); never secrets. */
  readonly facts: Readonly<Record<string, string>>;
}
