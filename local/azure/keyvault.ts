import { createPrivateKey, createPublicKey, type JsonWebKey } from 'node:crypto';
import { readBearer } from './credential';
import { HttpError, isObject, jsonBody, type Reply, type Request } from './http';
import {
  DEFAULT_KEY_OPS,
  WRAP_ALGORITHMS,
  attributes,
  currentVersion,
  dataPlaneAudience,
  findVersion,
  hasPermissions,
  jwk,
  unwrap,
  vaultArmId,
  wrap,
  type KeyVersion,
  type Vault,
  type VaultKey,
  type WrapAlgorithm,
} from './keyvault-model';
import { firewallRefusal } from './keyvault-firewall';
import type { World } from './world';

/** Key Vault data plane, keys only, api-version 2025-07-01 (older 7.x versions answer the same). */
export const KEY_VAULT_API_VERSIONS = ['7.4', '7.5', '7.6', '2025-07-01'];
const RSA_TYPES = ['RSA', 'RSA-HSM'];

function kvError(status: number, code: string, message: string, inner?: string): HttpError {
  return new HttpError(status, {
    status,
    body: { error: { code, message, ...(inner !== undefined ? { innererror: { code: inner } } : {}) } },
  });
}

function keyNotFound(name: string): HttpError {
  return kvError(
    404,
    'KeyNotFound',
    `A key with (name/id) ${name} was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
  );
}

function b64u(buf: Buffer): string {
  return buf.toString('base64url');
}

export interface KeyVaultRoute {
  readonly operation: string;
  readonly handle: () => Promise<Reply>;
}

/** Which Key Vault operation a request is (for faults and logs) and how to answer it. */
export function routeKeyVault(world: World, host: string, req: Request): KeyVaultRoute {
  const vault = world.vaultByHost(host);
  const segments = req.path.split('/').slice(1); // ['keys', name, ...]
  const [collection, name = '', third, fourth] = segments;
  const m = req.method;
  const op = (
    operation: string,
    permission: string | undefined,
    fn: (v: Vault) => Promise<Reply> | Reply,
  ): KeyVaultRoute => ({
    operation,
    handle: async () => {
      authorize(world, vault, req, permission);
      if (vault === undefined) throw new Error('unreachable');
      return fn(vault);
    },
  });

  if (collection !== 'keys')
    return {
      operation: 'unknown',
      handle: () => Promise.reject(kvError(400, 'BadParameter', `Unsupported path ${req.path}.`)),
    };
  if (name === '' && m === 'GET') return op('keys.list', 'list', (v) => listKeys(world, v, req));
  if (third === 'create' && m === 'POST')
    return op('keys.create', 'create', (v) => createKey(world, v, name, req));
  if (third === 'rotate' && m === 'POST')
    return op('keys.rotate', 'rotate', (v) => rotateKey(world, v, name));
  if (third === 'rotationpolicy' && m === 'GET')
    return op('keys.getRotationPolicy', 'getrotationpolicy', (v) => getPolicy(world, v, name));
  if (third === 'rotationpolicy' && m === 'PUT')
    return op('keys.setRotationPolicy', 'setrotationpolicy', (v) => setPolicy(world, v, name, req));
  if (third === 'versions' && m === 'GET')
    return op('keys.listVersions', 'list', (v) => listVersions(world, v, name, req));
  if (third === undefined && m === 'PUT')
    return op('keys.import', 'import', (v) => importKey(world, v, name, req));
  if (third === undefined && m === 'DELETE')
    return op('keys.delete', 'delete', (v) => deleteKey(world, v, name));
  if ((third === undefined || third === '') && m === 'GET')
    return op('keys.get', 'get', (v) => getKey(world, v, name, undefined));
  if (third !== undefined && fourth === undefined && m === 'GET')
    return op('keys.get', 'get', (v) => getKey(world, v, name, third));
  if (third !== undefined && fourth === undefined && m === 'PATCH')
    return op('keys.update', 'update', (v) => updateKey(world, v, name, third, req));
  if (third !== undefined && fourth?.toLowerCase() === 'wrapkey' && m === 'POST')
    return op('keys.wrap', 'wrapkey', (v) => crypt(world, v, name, third, req, 'wrap'));
  if (third !== undefined && fourth?.toLowerCase() === 'unwrapkey' && m === 'POST')
    return op('keys.unwrap', 'unwrapkey', (v) => crypt(world, v, name, third, req, 'unwrap'));
  return {
    operation: 'unknown',
    handle: () => Promise.reject(kvError(405, 'BadParameter', `Method ${m} is not allowed on ${req.path}.`)),
  };
}

/** Key Vault's challenge-based auth: no token gets a 401 challenge naming the tenant and resource. */
function authorize(
  world: World,
  vault: Vault | undefined,
  req: Request,
  permission: string | undefined,
): void {
  const authHeader = req.headers.authorization;
  // Managed HSM challenges for (and accepts tokens of) https://managedhsm.azure.net; Key Vault for
  // https://vault.azure.net. A host that names no vault answers like a vault.
  const audience = vault === undefined ? 'https://vault.azure.net' : dataPlaneAudience(vault);
  const apiVersion = req.query.get('api-version');
  if (apiVersion === null || !KEY_VAULT_API_VERSIONS.includes(apiVersion)) {
    throw kvError(
      400,
      'BadParameter',
      `The specified version (${apiVersion ?? 'none'}) is not recognized. Consider using the latest supported version (2025-07-01).`,
    );
  }
  if (authHeader === undefined || authHeader === '') {
    throw new HttpError(401, {
      status: 401,
      headers: {
        'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/${world.tenantId}", resource="${audience}"`,
      },
      body: {
        error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' },
      },
    });
  }
  const claims = readBearer(authHeader);
  if (claims === undefined)
    throw kvError(401, 'Unauthorized', 'AKV10032: Invalid issuer or malformed token.');
  if (claims.aud.replace(/\/$/, '') !== audience) {
    throw kvError(
      401,
      'Unauthorized',
      `AKV10022: Invalid audience. Expected ${audience}, found: ${claims.aud}.`,
    );
  }
  if (vault === undefined) {
    // The DNS name of a vault that does not exist does not resolve; the seam only reaches us.
    throw kvError(404, 'VaultNotFound', 'The vault was not found.');
  }
  // Key Vault's network gate, after authentication (its message names the caller) and before RBAC.
  // Wire shape as Key Vault answers: code "Forbidden", message "<why>\r\nCaller: appid=<client
  // id>;oid=<object id>;iss=https://sts.windows.net/<tenant>/\r\nVault: <name>;location=<region>", inner
  // code ForbiddenByConnection (public access disabled: microsoft/multimodal-ai#171 quotes the whole
  // answer) or ForbiddenByFirewall (deny-by-default, no rule: Azure-Samples/azuresandbox#429). `appid`
  // is the caller's application (client) id, only when the token carries one (appid, or azp in v2
  // tokens); never the object id. Every caller of this data plane is the app.
  const refusal = firewallRefusal(vault, world.appNetwork);
  if (refusal !== undefined)
    throw kvError(
      403,
      'Forbidden',
      `${refusal.message}\r\nCaller: ${claims.appid !== undefined ? `appid=${claims.appid};` : ''}oid=${claims.oid};iss=https://sts.windows.net/${world.tenantId}/\r\nVault: ${vault.name};location=${vault.location}`,
      refusal.innerCode,
    );
  if (
    vault.enforceCallerAccess &&
    permission !== undefined &&
    !hasPermissions(vault, claims.oid, [permission])
  ) {
    throw kvError(
      403,
      'Forbidden',
      `Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: oid=${claims.oid}\r\nAction: 'Microsoft.KeyVault/vaults/keys/${permission}'\r\nResource: '${vaultArmId(vault).toLowerCase()}'`,
      'ForbiddenByRbac',
    );
  }
}

function liveKey(vault: Vault, name: string): VaultKey {
  const key = vault.keys.get(name.toLowerCase());
  if (key === undefined || key.deleted !== undefined) throw keyNotFound(name);
  return key;
}

function bundle(world: World, vault: Vault, key: VaultKey, v: KeyVersion): Record<string, unknown> {
  return {
    key: jwk(world.vaultUrl(vault), key.name, v),
    attributes: attributes(v),
    ...(Object.keys(v.tags).length > 0 ? { tags: v.tags } : {}),
  };
}

function page<T>(
  items: readonly T[],
  req: Request,
  defaultSize: number,
  nextBase: string,
): { value: T[]; nextLink: string | null } {
  const maxParam = req.query.get('maxresults');
  const max = maxParam === null ? defaultSize : Number(maxParam);
  if (!Number.isInteger(max) || max < 1 || max > 25)
    throw kvError(400, 'BadParameter', 'maxresults must be between 1 and 25.');
  const skip = Number(req.query.get('$skiptoken') ?? '0');
  if (!Number.isInteger(skip) || skip < 0) throw kvError(400, 'BadParameter', 'Invalid $skiptoken.');
  const value = items.slice(skip, skip + max);
  const next =
    skip + max < items.length
      ? `${nextBase}?api-version=${req.query.get('api-version') ?? ''}&$skiptoken=${skip + max}&maxresults=${max}`
      : null;
  return { value, nextLink: next };
}

function listKeys(world: World, vault: Vault, req: Request): Reply {
  const items = [...vault.keys.values()]
    .filter((k) => k.deleted === undefined)
    .flatMap((k) => {
      const v = currentVersion(k);
      return v === undefined
        ? []
        : [{ kid: `${world.vaultUrl(vault)}/keys/${k.name}`, attributes: attributes(v) }];
    });
  return {
    status: 200,
    body: page(items, req, world.behaviour.keyVaultPageSize, `${world.vaultUrl(vault)}/keys`),
  };
}

function listVersions(world: World, vault: Vault, name: string, req: Request): Reply {
  const key = liveKey(vault, name);
  const items = [...key.versions]
    .sort((a, b) => a.created - b.created)
    .map((v) => ({
      kid: `${world.vaultUrl(vault)}/keys/${key.name}/${v.version}`,
      attributes: attributes(v),
      ...(Object.keys(v.tags).length > 0 ? { tags: v.tags } : {}),
    }));
  return {
    status: 200,
    body: page(
      items,
      req,
      world.behaviour.keyVaultPageSize,
      `${world.vaultUrl(vault)}/keys/${key.name}/versions`,
    ),
  };
}

function getKey(world: World, vault: Vault, name: string, version: string | undefined): Reply {
  const key = liveKey(vault, name);
  const v = findVersion(key, version);
  if (v === undefined) throw keyNotFound(version === undefined ? name : `${name}/${version}`);
  return { status: 200, body: bundle(world, vault, key, v) };
}

function seconds(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw kvError(400, 'BadParameter', `attributes.${field} must be unix seconds.`);
  return v * 1000;
}

async function createKey(world: World, vault: Vault, name: string, req: Request): Promise<Reply> {
  if (!/^[0-9a-zA-Z-]{1,127}$/.test(name))
    throw kvError(400, 'BadParameter', 'The key name may only contain alphanumeric characters and dashes.');
  const body = jsonBody(req);
  if (!isObject(body) || typeof body['kty'] !== 'string')
    throw kvError(400, 'BadParameter', 'Property kty is required.');
  const kty = body['kty'];
  if (!['RSA', 'RSA-HSM', 'EC', 'EC-HSM', 'oct-HSM'].includes(kty))
    throw kvError(400, 'BadParameter', `Invalid key type ${kty}.`);
  const size = typeof body['key_size'] === 'number' ? body['key_size'] : 2048;
  if (RSA_TYPES.includes(kty) && ![2048, 3072, 4096].includes(size))
    throw kvError(400, 'BadParameter', `RSA key size must be 2048, 3072 or 4096.`);
  const ops = Array.isArray(body['key_ops']) ? body['key_ops'].map(String) : [...DEFAULT_KEY_OPS];
  const attrs = isObject(body['attributes']) ? body['attributes'] : {};
  const tags = isObject(body['tags'])
    ? Object.fromEntries(Object.entries(body['tags']).map(([k, v]) => [k, String(v)]))
    : {};
  const nbf = seconds(attrs['nbf'], 'nbf');
  const exp = seconds(attrs['exp'], 'exp');
  const { key, version } = await world.addVersion(vault, name, {
    kty,
    size,
    ops,
    ...(typeof attrs['enabled'] === 'boolean' ? { enabled: attrs['enabled'] } : {}),
    ...(nbf !== undefined ? { nbf } : {}),
    ...(exp !== undefined ? { exp } : {}),
    tags,
  });
  return { status: 200, body: bundle(world, vault, key, version) };
}

/** Import (`PUT /keys/<name>`): an RSA key from its private JWK becomes a new version. */
async function importKey(world: World, vault: Vault, name: string, req: Request): Promise<Reply> {
  if (!/^[0-9a-zA-Z-]{1,127}$/.test(name))
    throw kvError(400, 'BadParameter', 'The key name may only contain alphanumeric characters and dashes.');
  const body = jsonBody(req);
  if (!isObject(body) || !isObject(body['key']))
    throw kvError(400, 'BadParameter', 'Property key is required.');
  const jwkIn = body['key'];
  if (jwkIn['kty'] !== 'RSA' && jwkIn['kty'] !== 'RSA-HSM')
    throw kvError(400, 'BadParameter', 'Only RSA keys can be imported here.');
  let privateKey;
  try {
    privateKey = createPrivateKey({ key: { ...jwkIn, kty: 'RSA' } as JsonWebKey, format: 'jwk' });
  } catch {
    throw kvError(400, 'BadParameter', 'The JSON web key is not a valid RSA private key.');
  }
  const publicKey = createPublicKey(privateKey);
  const size = privateKey.asymmetricKeyDetails?.modulusLength ?? 0;
  const attrs = isObject(body['attributes']) ? body['attributes'] : {};
  const nbf = seconds(attrs['nbf'], 'nbf');
  const exp = seconds(attrs['exp'], 'exp');
  const { key, version } = await world.addVersion(vault, name, {
    kty: body['Hsm'] === true ? 'RSA-HSM' : 'RSA',
    size,
    ops: Array.isArray(jwkIn['key_ops']) ? jwkIn['key_ops'].map(String) : [...DEFAULT_KEY_OPS],
    ...(typeof attrs['enabled'] === 'boolean' ? { enabled: attrs['enabled'] } : {}),
    ...(nbf !== undefined ? { nbf } : {}),
    ...(exp !== undefined ? { exp } : {}),
    material: { privateKey, publicKey },
  });
  return { status: 200, body: bundle(world, vault, key, version) };
}

async function rotateKey(world: World, vault: Vault, name: string): Promise<Reply> {
  const key = liveKey(vault, name);
  const current = currentVersion(key);
  if (current === undefined) throw keyNotFound(name);
  if (current.kty === 'oct-HSM')
    throw kvError(400, 'BadParameter', 'Rotation of symmetric keys is not supported.');
  const version = await world.rotate(vault, key);
  return { status: 200, body: bundle(world, vault, key, version) };
}

function updateKey(world: World, vault: Vault, name: string, version: string, req: Request): Reply {
  const key = liveKey(vault, name);
  const v = findVersion(key, version);
  if (v === undefined) throw keyNotFound(`${name}/${version}`);
  const body = jsonBody(req);
  if (!isObject(body)) throw kvError(400, 'BadParameter', 'A JSON body is required.');
  const attrs = isObject(body['attributes']) ? body['attributes'] : {};
  if (typeof attrs['enabled'] === 'boolean') v.enabled = attrs['enabled'];
  if ('nbf' in attrs) v.nbf = seconds(attrs['nbf'], 'nbf');
  if ('exp' in attrs) setExpiry(key, v, seconds(attrs['exp'], 'exp'));
  if (Array.isArray(body['key_ops'])) v.ops = body['key_ops'].map(String);
  if (isObject(body['tags']))
    v.tags = Object.fromEntries(Object.entries(body['tags']).map(([k, t]) => [k, String(t)]));
  v.updated = world.clock.now();
  return { status: 200, body: bundle(world, vault, key, v) };
}

/** A version's new expiry (updateKeyProperties' `attributes.exp`; also the admin API's expiry route). */
export function setExpiry(key: VaultKey, v: KeyVersion, exp: number | undefined): void {
  v.exp = exp;
  // A changed expiry is a new deadline: allow its notifications to fire again.
  key.notified.delete(`near:${v.version}`);
  key.notified.delete(`expired:${v.version}`);
}

function deleteKey(world: World, vault: Vault, name: string): Reply {
  const key = liveKey(vault, name);
  const now = world.clock.now();
  key.deleted = { deletedDate: now, scheduledPurgeDate: now + 90 * 86_400_000 };
  const v = currentVersion(key);
  return {
    status: 200,
    body: {
      ...(v !== undefined ? bundle(world, vault, key, v) : {}),
      recoveryId: `${world.vaultUrl(vault)}/deletedkeys/${key.name}`,
      deletedDate: Math.floor(now / 1000),
      scheduledPurgeDate: Math.floor(key.deleted.scheduledPurgeDate / 1000),
    },
  };
}

function policyBody(world: World, vault: Vault, key: VaultKey): Record<string, unknown> {
  const p = key.rotationPolicy;
  if (p !== undefined) return { ...p };
  // Key Vault's default policy: notify 30 days before expiry, no automatic rotation.
  return {
    id: `${world.vaultUrl(vault)}/keys/${key.name}/rotationpolicy`,
    lifetimeActions: [{ trigger: { timeBeforeExpiry: 'P30D' }, action: { type: 'Notify' } }],
    attributes: {},
  };
}

function getPolicy(world: World, vault: Vault, name: string): Reply {
  return { status: 200, body: policyBody(world, vault, liveKey(vault, name)) };
}

function setPolicy(world: World, vault: Vault, name: string, req: Request): Reply {
  const key = liveKey(vault, name);
  try {
    world.setRotationPolicy(vault, key, jsonBody(req));
  } catch (e) {
    if (e instanceof HttpError) throw e;
    throw kvError(400, 'BadParameter', e instanceof Error ? e.message : 'Invalid rotation policy.');
  }
  return { status: 200, body: policyBody(world, vault, key) };
}

function crypt(
  world: World,
  vault: Vault,
  name: string,
  version: string,
  req: Request,
  mode: 'wrap' | 'unwrap',
): Reply {
  const key = liveKey(vault, name);
  const v = findVersion(key, version);
  if (v === undefined) throw keyNotFound(`${name}/${version}`);
  const body = jsonBody(req);
  if (!isObject(body) || typeof body['alg'] !== 'string' || typeof body['value'] !== 'string') {
    throw kvError(400, 'BadParameter', 'Properties alg and value are required.');
  }
  const alg = body['alg'];
  if (!(WRAP_ALGORITHMS as readonly string[]).includes(alg) || !RSA_TYPES.includes(v.kty)) {
    throw kvError(400, 'BadParameter', `Algorithm ${alg} is not supported for key type ${v.kty}.`);
  }
  const opName = mode === 'wrap' ? 'wrapKey' : 'unwrapKey';
  const now = world.clock.now();
  if (!v.enabled)
    throw kvError(403, 'Forbidden', `Operation ${opName} is not allowed on a disabled key.`, 'KeyDisabled');
  if (!v.ops.includes(opName))
    throw kvError(
      403,
      'Forbidden',
      `Operation ${opName} is not permitted on this key.`,
      'KeyOperationForbidden',
    );
  // Expired or not-yet-valid keys may still decrypt (unwrap) data, but not protect new data.
  if (mode === 'wrap' && v.exp !== undefined && v.exp <= now)
    throw kvError(403, 'Forbidden', 'Operation wrapKey is not allowed on an expired key.', 'KeyExpired');
  if (v.nbf !== undefined && v.nbf > now)
    throw kvError(
      403,
      'Forbidden',
      `Operation ${opName} is not allowed before the key's activation date.`,
      'KeyNotYetValid',
    );
  const input = Buffer.from(body['value'], 'base64url');
  let output: Buffer;
  try {
    output = mode === 'wrap' ? wrap(v, alg as WrapAlgorithm, input) : unwrap(v, alg as WrapAlgorithm, input);
  } catch {
    throw kvError(
      400,
      'BadParameter',
      mode === 'wrap'
        ? 'The value is too long for this key and algorithm.'
        : 'Unwrap failed: the value was not wrapped with this key and algorithm.',
    );
  }
  return {
    status: 200,
    body: { kid: `${world.vaultUrl(vault)}/keys/${key.name}/${v.version}`, value: b64u(output) },
  };
}
