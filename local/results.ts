import type { RotationOutput } from '../shared/rotation/contract';
import type { SlotChange } from '../shared/domain/serverUpdate';
import type { CustomEvent } from './azure/capture';

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
  output: Pick<RotationOutput, 'servers'>,
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
