import { loadConfig } from '../../../shared/config';
import { InvalidInputError } from '../../../shared/domain/errors';
import type { KeyInfo, KeyVersionInfo } from '../../../shared/domain/model';
import { NotFoundError, TransientError, VaultUnreachableError } from '../../../shared/ports/errors';
import type { KeyVaultKeys } from '../../../shared/ports/keyVaultKeys';
import { healthReport, startupAuditRecords } from '../../../shared/triggers/health';
import {
  OperatorDependencyError,
  OperatorKeyNotFoundError,
  OperatorRequestError,
  operatorCaller,
  parseOperatorNote,
  requestOperatorRotation,
  rotationStatus,
} from '../../../shared/triggers/operator';
import { FakeInstances, MemoryAudit, SUB } from './fakes';

const HSM = 'https://contoso-pg-kv.managedhsm.azure.net';
const env = {
  CMK_SUBSCRIPTIONS: SUB,
  CMK_ALLOWED_VAULTS: `https://contoso-pg-kv.vault.azure.net,${HSM},https://other-kv.vault.azure.net`,
  APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=00000000-0000-0000-0000-000000000000',
};
const config = loadConfig(env);

/** Key Vault with the keys it has, or failing every read with `error`. */
class Keys implements KeyVaultKeys {
  readonly reads: string[] = [];
  constructor(
    private readonly has: readonly string[],
    private readonly error?: Error,
  ) {}
  listKeys(): Promise<string[]> {
    return Promise.resolve([...this.has]);
  }
  readKey(vaultUrl: string, keyName: string): Promise<KeyInfo> {
    this.reads.push(`${vaultUrl}/keys/${keyName}`);
    if (this.error !== undefined) return Promise.reject(this.error);
    if (!this.has.includes(`${vaultUrl}/keys/${keyName}`))
      return Promise.reject(new NotFoundError(`Not found: key ${keyName}`, 'KeyNotFound', 404));
    return Promise.resolve({ vaultUrl, vaultName: 'contoso-pg-kv', name: keyName, versions: [] });
  }
  readKeyVersion(): Promise<KeyVersionInfo> {
    return Promise.reject(new Error('not used'));
  }
  rotateKey(): Promise<KeyVersionInfo> {
    return Promise.reject(new Error('not used'));
  }
}

async function request(
  keys: Keys,
  vault: string,
  key: string,
  note = {},
): Promise<{ result: unknown; instances: FakeInstances; audit: MemoryAudit }> {
  const instances = new FakeInstances();
  const audit = new MemoryAudit();
  const result = await requestOperatorRotation(
    instances,
    { config, audit, keys },
    vault,
    key,
    'function-key',
    note,
  ).catch((e: unknown) => e);
  return { result, instances, audit };
}

describe('manual rotation through the operator API', () => {
  it('refuses a key the vault does not have before starting anything: no instance, no page, no audit', async () => {
    const { result, instances, audit } = await request(
      new Keys([]),
      'contoso-pg-kv.vault.azure.net',
      'pg-cmk-typo',
    );
    expect(result).toBeInstanceOf(OperatorKeyNotFoundError);
    expect((result as Error).message).toContain('No such key in vault');
    expect(instances.started).toEqual([]);
    expect(instances.raised).toEqual([]);
    expect(audit.records).toEqual([]);
  });

  // The one did-you-mean rule of the CLI (shared/domain/suggest.ts): a typo or a prefix of a key the vault has.
  it.each([
    ['a typo', 'pg-cnk', ' (did you mean pg-cmk?)'],
    ['another case', 'PG-CMK-REPORTNG', ' (did you mean pg-cmk-reporting?)'],
    ['a prefix', 'pg-cmk-rep', ' (did you mean pg-cmk-reporting?)'],
    ['a long name one letter off', 'pg-cmk-reportinh', ' (did you mean pg-cmk-reporting?)'],
    ['two as near', 'pg-cmq', ' (did you mean pg-cmk or pg-cmx?)'],
    ['nothing near', 'zzz', ''],
  ])('names the nearest keys for %s', async (_what, typed, hint) => {
    const { result } = await request(
      new Keys(['pg-cmk', 'pg-cmk-reporting', 'pg-cmx']),
      'contoso-pg-kv.vault.azure.net',
      typed,
    );
    expect((result as Error).message).toContain(
      `has no key "${typed}"${hint}. Its keys: pg-cmk, pg-cmk-reporting, pg-cmx. Nothing was started.`,
    );
  });

  it('answers a Key Vault outage with a dependency error (503), not "no such key"', async () => {
    const { result, instances } = await request(
      new Keys([], new TransientError('Failed: HTTP 503', 'ServiceUnavailable', 503)),
      'https://contoso-pg-kv.vault.azure.net',
      'pg-cmk',
    );
    expect(result).toBeInstanceOf(OperatorDependencyError);
    expect((result as Error).message).toContain('ServiceUnavailable');
    // "Try again" is a retryable error, never an input error (it extended InvalidInputError, retryable false).
    expect(result).toMatchObject({ code: 'KeyVaultUnavailable', retryable: true });
    expect(result).not.toBeInstanceOf(InvalidInputError);
    expect(instances.started).toEqual([]);
  });

  it('answers a vault the firewall keeps the app from with the network fix, not "try again later"', async () => {
    const { result, instances } = await request(
      new Keys([], new VaultUnreachableError('refused', 'ForbiddenByFirewall', 403)),
      'https://contoso-pg-kv.vault.azure.net',
      'pg-cmk',
    );
    expect(result).toBeInstanceOf(OperatorDependencyError);
    expect((result as Error).message).toMatch(/cannot reach .* over the network \(ForbiddenByFirewall/);
    expect((result as Error).message).toMatch(/private endpoint/);
    expect((result as Error).message).not.toMatch(/try again later/);
    expect(result).toMatchObject({ code: 'KeyVaultUnavailable', retryable: false });
    expect(instances.started).toEqual([]);
  });

  it('starts the rotation of a key that exists, at the vault URL named, and records the reason and ticket', async () => {
    const keys = new Keys([`${HSM}/keys/pg-cmk`]);
    const { result, instances, audit } = await request(keys, 'contoso-pg-kv.managedhsm.azure.net', 'pg-cmk', {
      reason: 'expiring HSM key',
      ticket: 'CHG-1234',
    });
    expect(result).toMatchObject({ kind: 'started' });
    expect(keys.reads).toEqual([`${HSM}/keys/pg-cmk`]);
    expect(instances.started[0]?.input.vaultUrl).toBe(HSM);
    expect(audit.records[0]).toMatchObject({
      step: 'EventReceived',
      trigger: 'operator:function-key',
      details: { operatorReason: 'expiring HSM key', ticket: 'CHG-1234' },
    });
  });

  it('refuses a bare name that two allowed vaults share, asking for the host', async () => {
    const { result } = await request(new Keys([]), 'contoso-pg-kv', 'pg-cmk');
    expect(result).toBeInstanceOf(OperatorRequestError);
    expect((result as Error).message).toContain('name it by host');
  });

  it('finds a vault by its unique name, and refuses one outside CMK_ALLOWED_VAULTS', async () => {
    const ok = await request(new Keys(['https://other-kv.vault.azure.net/keys/k1']), 'other-kv', 'k1');
    expect(ok.result).toMatchObject({ kind: 'started' });
    const out = await request(new Keys([]), 'unknown-kv', 'k1');
    expect(out.result).toBeInstanceOf(OperatorRequestError);
  });

  it('reads the status under the id of the vault URL', async () => {
    const { instanceId } = await rotationStatus(new FakeInstances(), config, 'other-kv', 'k1');
    expect(instanceId).toBe('cmk-rotation:other-kv:k1');
  });
});

describe('who the operator API names as the caller', () => {
  it.each([
    ['function-key auth ignores a claimed name', 'functionKey', 'mallory@contoso.com', 'function-key'],
    [
      'App Service Authentication names the principal',
      'appServiceAuthentication',
      'alice@contoso.com',
      'alice@contoso.com',
    ],
    ['App Service Authentication without a principal', 'appServiceAuthentication', null, 'function-key'],
    ['control characters are dropped', 'appServiceAuthentication', 'bob\n@contoso.com', 'bob@contoso.com'],
  ] as const)('%s', (_what, mode, header, caller) => {
    expect(operatorCaller({ callerAttribution: mode }, header)).toBe(caller);
  });
});

describe('the operator note (request body)', () => {
  it.each([
    ['', {}],
    ['{}', {}],
    ['{"reason":" key compromised ","ticket":"INC-42"}', { reason: 'key compromised', ticket: 'INC-42' }],
  ])('accepts %j', (body, note) => {
    expect(parseOperatorNote(body)).toEqual(note);
  });

  it.each([
    ['not JSON', 'hello'],
    ['an array', '[]'],
    ['an unknown field', '{"reasn":"typo"}'],
    ['a reason too long', JSON.stringify({ reason: 'x'.repeat(501) })],
    ['a reason on two lines', JSON.stringify({ reason: 'a\nb' })],
    ['a ticket with spaces', JSON.stringify({ ticket: 'INC 42' })],
    ['a ticket too long', JSON.stringify({ ticket: 'T'.repeat(65) })],
    ['a number as reason', '{"reason":42}'],
  ])('refuses %s', (_what, body) => {
    expect(() => parseOperatorNote(body)).toThrow(OperatorRequestError);
  });
});

describe('health and startup audit', () => {
  it('reports a disabled pager channel as degraded and audits it at startup, without the secret', () => {
    const c = loadConfig({
      ...env,
      PAGERDUTY_ROUTING_KEY: '@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/pd/)',
      TEAMS_WEBHOOK_URL: 'https://contoso.webhook.office.com/webhookb2/very-secret-token',
    });
    const report = healthReport(c);
    expect(report.status).toBe('degraded');
    expect(report.pagerChannels).toEqual([
      {
        channel: 'pagerDuty',
        state: 'disabled',
        reason: expect.stringContaining('unresolved Key Vault reference'),
      },
      { channel: 'teams', state: 'enabled' },
      { channel: 'webhook', state: 'notConfigured' },
    ]);
    const records = startupAuditRecords(c, '2026-11-28T10:00:00.000Z');
    expect(records).toEqual([
      expect.objectContaining({
        step: 'PagerChannelDisabled',
        outcome: 'failure',
        details: { channel: 'pagerDuty' },
      }),
    ]);
    expect(JSON.stringify({ report, records })).not.toContain('very-secret-token');
    expect(JSON.stringify({ report, records })).not.toContain('secrets/pd');
  });

  it('is ok with every configured channel usable', () => {
    const c = loadConfig({ ...env, TEAMS_WEBHOOK_URL: 'https://contoso.webhook.office.com/webhookb2/x' });
    expect(healthReport(c).status).toBe('ok');
    expect(startupAuditRecords(c, 'now')).toEqual([]);
  });
});
