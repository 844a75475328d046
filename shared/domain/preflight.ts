import type { KeyVersionInfo } from './model';

/** Names of the preflight checks; stable, they appear in audit records and pages. */
export type PreflightCheckName = 'keyType' | 'keySize' | 'enabled' | 'notBefore' | 'expiry' | 'operations';

export interface PreflightCheck {
  readonly name: PreflightCheckName;
  readonly passed: boolean;
  readonly reason: string;
}

export interface PreflightResult {
  readonly passed: boolean;
  readonly kid: string;
  readonly checks: readonly PreflightCheck[];
  /** The failed checks' reasons, joined; empty when passed. */
  readonly summary: string;
}

export interface PreflightOptions {
  /** Evaluation time, ISO-8601 (orchestrators pass `context.df.currentUtcDateTime`). */
  readonly now: string;
  /** A target must stay valid at least this long, so a rollout never lands on a key about to expire. */
  readonly minLifetimeDays: number;
}

// Azure Database for PostgreSQL flexible server accepts RSA keys of these sizes only.
const ALLOWED_TYPES = ['RSA', 'RSA-HSM'];
const ALLOWED_SIZES = [2048, 3072, 4096];
const REQUIRED_OPS = ['wrapKey', 'unwrapKey'];
const DAY_MS = 86_400_000;

function check(name: PreflightCheckName, passed: boolean, reason: string): PreflightCheck {
  return { name, passed, reason };
}

/**
 * Decides whether a key version is safe to move servers onto. Each rule is a named check with a reason
 * so a failure can be paged in words an operator can act on. Needs the version's key material
 * attributes (type, size, operations): a version read only from a listing fails those checks.
 */
export function preflightKeyVersion(key: KeyVersionInfo, options: PreflightOptions): PreflightResult {
  const now = Date.parse(options.now);
  const checks: PreflightCheck[] = [];

  const kty = key.keyType;
  checks.push(
    kty !== undefined && ALLOWED_TYPES.includes(kty)
      ? check('keyType', true, `key type ${kty}`)
      : check('keyType', false, `key type ${kty ?? 'unknown'} is not RSA or RSA-HSM`),
  );
  checks.push(
    key.keySize !== undefined && ALLOWED_SIZES.includes(key.keySize)
      ? check('keySize', true, `${key.keySize}-bit`)
      : check('keySize', false, `key size ${key.keySize ?? 'unknown'} is not 2048, 3072 or 4096 bits`),
  );
  checks.push(
    key.enabled ? check('enabled', true, 'enabled') : check('enabled', false, 'key version is disabled'),
  );

  if (key.notBefore === undefined) {
    checks.push(check('notBefore', true, 'no activation date'));
  } else {
    const nbf = Date.parse(key.notBefore);
    checks.push(
      nbf <= now
        ? check('notBefore', true, `active since ${key.notBefore}`)
        : check('notBefore', false, `not active until ${key.notBefore}`),
    );
  }

  if (key.expiresOn === undefined) {
    checks.push(check('expiry', true, 'no expiry date'));
  } else {
    const exp = Date.parse(key.expiresOn);
    const minimum = now + options.minLifetimeDays * DAY_MS;
    if (exp <= now) checks.push(check('expiry', false, `expired at ${key.expiresOn}`));
    else if (exp < minimum)
      checks.push(
        check(
          'expiry',
          false,
          `expires at ${key.expiresOn}, less than ${options.minLifetimeDays} days from now`,
        ),
      );
    else checks.push(check('expiry', true, `expires at ${key.expiresOn}`));
  }

  const ops = key.keyOps;
  const missing = ops === undefined ? REQUIRED_OPS : REQUIRED_OPS.filter((op) => !ops.includes(op));
  checks.push(
    missing.length === 0
      ? check('operations', true, 'wrapKey and unwrapKey allowed')
      : check('operations', false, `key operations do not allow ${missing.join(' and ')}`),
  );

  const failed = checks.filter((c) => !c.passed);
  return {
    passed: failed.length === 0,
    kid: key.kid,
    checks,
    summary: failed.map((c) => c.reason).join('; '),
  };
}
