import type { Operation } from './world-records';

export function operationUrls(op: Operation): { asyncOperation: string; location: string } {
  const base = `https://management.azure.com/subscriptions/${op.subscriptionId}/providers/Microsoft.DBforPostgreSQL/locations/${op.location}`;
  return {
    asyncOperation: `${base}/azureAsyncOperation/${op.id}?api-version=2025-08-01`,
    location: `${base}/operationResults/${op.id}?api-version=2025-08-01`,
  };
}

export function operationBody(op: Operation): Record<string, unknown> {
  return {
    name: op.id,
    status: op.status,
    startTime: new Date(op.startTime).toISOString(),
    ...(op.endTime !== undefined ? { endTime: new Date(op.endTime).toISOString() } : {}),
    ...(op.error !== undefined ? { error: op.error } : {}),
  };
}
