import { readFileSync } from 'node:fs';
import { assertLocalCaTrusted, connectAppToLocalAzure } from '../app';
import { portOption, UsageError, type Cli } from '../cli';

/** The options that point a process loading the app at a local Azure started by another process. */
export const AZURE_OPTIONS = {
  'azure-port': { type: 'string' },
  'azure-ca': { type: 'string' },
  'azure-tenant': { type: 'string' },
} as const;

const DEFAULT_TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

/**
 * With `--azure-port`: checks the CA is trusted and points this process's app (its one transport seam)
 * at that local Azure. Returns the same options, for the worker processes that load the app too.
 */
export function connectToLocalAzure(cli: Cli): string[] {
  const azurePortText = cli.string('azure-port');
  if (azurePortText === undefined) return [];
  const azurePort = portOption(azurePortText, '--azure-port');
  const caFile = cli.string('azure-ca');
  if (caFile === undefined) throw new UsageError('--azure-port needs --azure-ca <ca.crt>');
  let caCertPem: string;
  try {
    caCertPem = readFileSync(caFile, 'utf8');
  } catch {
    throw new UsageError(`--azure-ca ${caFile}: cannot read it`);
  }
  assertLocalCaTrusted(caFile);
  const tenantId = cli.string('azure-tenant') ?? DEFAULT_TENANT;
  connectAppToLocalAzure({ port: azurePort, caCertPem, tenantId, url: `https://127.0.0.1:${azurePort}` });
  return ['--azure-port', String(azurePort), '--azure-ca', caFile, '--azure-tenant', tenantId];
}
