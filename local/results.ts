import type { CustomEvent } from './azure/capture';

/**
 * A rotation run's output as the local checks read it: the JSON the durable host holds for the
 * orchestration, described here (not imported from shared/) so that `npm start` and the tests judge the
 * product by what it wrote, not by its own types. `readRunOutput` checks the fields it relies on.
 */
export interface SlotChange {
  readonly slot: string;
  readonly from: string | undefined;
  readonly to: string | undefined;
}

export interface RunServer {
  readonly serverId: string;
  readonly serverName: string;
  readonly outcome: string;
  readonly reasonCode?: string | undefined;
  readonly slots: readonly SlotChange[];
}

export interface RunOutput {
  readonly status: string;
  readonly targetVersion: string | undefined;
  readonly counts?:
    | {
        readonly updated: number;
        readonly verified: number;
        readonly failed: number;
        readonly skipped: number;
      }
    | undefined;
  readonly servers: readonly RunServer[];
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const optionalString = (v: unknown): boolean => v === undefined || typeof v === 'string';

/** The run output `raw` (a completed orchestration's output), or an Error naming what is missing. */
export function readRunOutput(raw: unknown): RunOutput {
  const bad = (what: string): Error => new Error(`the rotation output ${what}: ${JSON.stringify(raw)}`);
  if (!isRecord(raw)) throw bad('is not a JSON object');
  if (typeof raw['status'] !== 'string') throw bad('has no status');
  if (!optionalString(raw['targetVersion'])) throw bad('has a targetVersion that is not a string');
  const counts = raw['counts'];
  if (
    counts !== undefined &&
    !(
      isRecord(counts) &&
      ['updated', 'verified', 'failed', 'skipped'].every((k) => typeof counts[k] === 'number')
    )
  )
    throw bad('has counts without updated, verified, failed and skipped numbers');
  const servers = raw['servers'];
  if (!Array.isArray(servers)) throw bad('has no servers list');
  for (const s of servers as unknown[]) {
    if (
      !isRecord(s) ||
      typeof s['serverId'] !== 'string' ||
      typeof s['serverName'] !== 'string' ||
      typeof s['outcome'] !== 'string' ||
      !optionalString(s['reasonCode']) ||
      !Array.isArray(s['slots']) ||
      !(s['slots'] as unknown[]).every(
        (x) =>
          isRecord(x) &&
          typeof x['slot'] === 'string' &&
          optionalString(x['from']) &&
          optionalString(x['to']),
      )
    )
      throw bad(`lists a server without serverId, serverName, outcome and slots (${JSON.stringify(s)})`);
  }
  return raw as unknown as RunOutput;
}

/** One server's result in a rotation run. */
export interface ServerResult {
  readonly name: string;
  readonly serverId: string;
  readonly outcome: string;
  readonly reasonCode: string | undefined;
  readonly slots: readonly SlotChange[];
}

/**
 * Every server's result in the rotation `correlationId`, from its output and the audit trail. The
 * output lists the servers that need attention (failed, skipped by their rollover, unplannable) and
 * only counts the others; a server that went well is proven by its own `ServerVerified` record
 * (`detail.outcome`: updated or verified; from and to versions), a server the plan skipped by its
 * `ServerSkipped` record. The key's runs share the correlation id: a server's latest record counts,
 * and the output's own list wins. An output of an older format (every server listed) is read as it is.
 */
export function serverResults(
  output: Pick<RunOutput, 'servers'>,
  audit: readonly CustomEvent[],
  correlationId: string,
): ServerResult[] {
  const results = new Map<string, ServerResult>();
  // The latest record per server (the key's runs share the correlation id), the output's list over it.
  for (const e of audit) {
    const p = e.properties;
    const serverId = p['serverId'];
    if (p['correlationId'] !== correlationId || serverId === undefined) continue;
    const name = serverId.split('/').pop() ?? serverId;
    if (e.name === 'CmkRotation.ServerVerified')
      results.set(serverId.toLowerCase(), {
        name,
        serverId,
        outcome: p['detail.outcome'] ?? 'verified',
        reasonCode: undefined,
        // A versionless slot (no from version) stays versionless.
        slots: [
          {
            slot: 'primary',
            from: p['fromVersion'],
            to:
              p['fromVersion'] === undefined || p['fromVersion'] === 'versionless'
                ? p['fromVersion']
                : p['toVersion'],
          },
        ],
      });
    else if (e.name === 'CmkRotation.ServerSkipped' || e.name === 'CmkRotation.ServerFailed')
      results.set(serverId.toLowerCase(), {
        name,
        serverId,
        outcome: e.name === 'CmkRotation.ServerSkipped' ? 'skipped' : 'failed',
        reasonCode: p['reasonCode'],
        slots: [],
      });
  }
  for (const s of output.servers)
    results.set(s.serverId.toLowerCase(), {
      name: s.serverName,
      serverId: s.serverId,
      outcome: s.outcome,
      reasonCode: s.reasonCode,
      slots: s.slots,
    });
  return [...results.values()];
}

/** The result of the server named `name` (the only one of that name), or undefined. */
export function resultOf(results: readonly ServerResult[], name: string): ServerResult | undefined {
  return results.find((r) => r.name.toLowerCase() === name.toLowerCase());
}
