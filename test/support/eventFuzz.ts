/**
 * Seeded mutations of Event Grid deliveries, for fuzzing the intake. Deterministic per seed
 * (mulberry32), no dependency. Each body starts from a valid key event in either schema and gets one
 * to three mutations of the kinds Azure's payloads and hostile senders produce: fields removed,
 * retyped, renamed (case, whitespace), out-of-range dates, deep or wide nesting, truncated text.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Json = Record<string, unknown>;

export function validKeyEvent(
  schema: 'EventGrid' | 'CloudEvents',
  opts: { vault: string; key: string; version: string; subscriptionId: string },
): Json {
  const topic = `/subscriptions/${opts.subscriptionId}/resourceGroups/rg-sec/providers/Microsoft.KeyVault/vaults/${opts.vault}`;
  const data = {
    Id: `https://${opts.vault}.vault.azure.net/keys/${opts.key}/${opts.version}`,
    VaultName: opts.vault,
    ObjectType: 'Key',
    ObjectName: opts.key,
    Version: opts.version,
    NBF: 1763600000,
    EXP: 1795136000,
  };
  return schema === 'EventGrid'
    ? {
        id: 'f0e1d2c3-0000-4000-8000-000000000001',
        topic,
        subject: opts.key,
        eventType: 'Microsoft.KeyVault.KeyNewVersionCreated',
        eventTime: '2026-11-20T10:00:00.1234567Z',
        data,
        dataVersion: '1',
        metadataVersion: '1',
      }
    : {
        specversion: '1.0',
        id: 'f0e1d2c3-0000-4000-8000-000000000002',
        source: topic,
        subject: opts.key,
        type: 'Microsoft.KeyVault.KeyNewVersionCreated',
        time: '2026-11-20T10:00:00Z',
        data,
      };
}

/** Nested objects `depth` levels deep (depth > 64 is written as text by `fuzzedBodies`). */
function deep(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { a: v };
  if (depth > 64) deepValues.add(v as object);
  return v;
}

function pick<T>(rnd: () => number, items: readonly T[]): T {
  const item = items[Math.floor(rnd() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

function randomValue(rnd: () => number): unknown {
  return pick(rnd, [
    () => null,
    () => undefined,
    () => '',
    () => ' ',
    () => 0,
    () => -1,
    () => 1e300,
    () => Number.MAX_SAFE_INTEGER,
    () => '99999999999999',
    () => '1e300',
    () => 'NaN',
    () => true,
    () => [],
    () => ({}),
    () => [1, 'x', null],
    () => 'x'.repeat(Math.floor(rnd() * 5000)),
    () => deep(1 + Math.floor(rnd() * 100)),
    () => deep(5000),
    () => Array.from({ length: 20_000 }, () => 0),
    () => 'https://evil.example/keys/pg-cmk/ffffffffffffffffffffffffffffffff',
    () => 'https://contoso-pg-kv.vault.azure.net/secrets/pg-cmk',
    () => 'https://other-kv.vault.azure.net/keys/pg-cmk/0123456789abcdef0123456789abcdef',
    () => 'not a date',
    () => '2026-02-30T00:00:00Z',
    () => 'Microsoft.KeyVault.SecretNewVersionCreated',
    () => 'Microsoft.KeyVault.VaultAccessPolicyChanged',
    () => 'Microsoft.Storage.BlobCreated',
    () => '0.3',
    () => '2',
    () => '\u0000\ud800',
  ])();
}

function mutate(rnd: () => number, event: Json): void {
  const target: Json =
    rnd() < 0.5 &&
    typeof event['data'] === 'object' &&
    event['data'] !== null &&
    !Array.isArray(event['data'])
      ? (event['data'] as Json)
      : event;
  const keys = Object.keys(target);
  const key = keys.length > 0 ? pick(rnd, keys) : 'x';
  const kind = Math.floor(rnd() * 6);
  if (kind === 0) Reflect.deleteProperty(target, key);
  else if (kind === 1) target[key] = randomValue(rnd);
  else if (kind === 2) {
    const v = target[key];
    Reflect.deleteProperty(target, key);
    target[pick(rnd, [` ${key}`, `${key} `, key.toUpperCase(), key.toLowerCase(), `${key}\t`])] = v;
  } else if (kind === 3)
    // An own property even for "__proto__" (as JSON.parse makes it), not a prototype change.
    Object.defineProperty(target, pick(rnd, ['__proto__', 'constructor', 'data_base64', 'extra', key]), {
      value: randomValue(rnd),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  else if (kind === 4) event['data'] = randomValue(rnd);
  else {
    const v = target[key];
    target[key] = typeof v === 'string' ? ` ${v} ` : randomValue(rnd);
  }
}

/** Mutations after which no event of the body may be accepted, whatever came before them. */
const POISONS: readonly ((rnd: () => number, event: Json) => void)[] = [
  (_r, e) => delete e['id'],
  (_r, e) => {
    e['eventTime'] = 'not a date';
    e['time'] = 'not a date';
  },
  (_r, e) => (e['specversion'] = '0.3'),
  (_r, e) => {
    e['eventType'] = 'Microsoft.KeyVault.SecretNewVersionCreated';
    e['type'] = 'Microsoft.KeyVault.SecretNewVersionCreated';
  },
  (r, e) => (e['data'] = pick(r, ['a string', [], null, 42, deep(5000)])),
  (_r, e) => (e['extension'] = deep(5000)),
  (r, e) => withData(e, (d) => (d['NBF'] = pick(r, ['99999999999999', 1e300, -5, 'tomorrow']))),
  (r, e) => withData(e, (d) => (d['EXP'] = pick(r, [1e300, '99999999999999', '1e3']))),
  (r, e) =>
    withData(
      e,
      (d) => (d['Id'] = pick(r, ['https://contoso-pg-kv.vault.azure.net/secrets/pg-cmk', 'pg-cmk', ''])),
    ),
];

function withData(event: Json, change: (data: Json) => void): void {
  const data = event['data'];
  if (typeof data === 'object' && data !== null && !Array.isArray(data)) change(data as Json);
  else event['data'] = null;
}

/**
 * `count` delivery bodies as JSON text, seeded. With `poisoned`, every body ends with a mutation that
 * makes each of its events unacceptable (so an intake that accepts one is wrong); without, the random
 * mutations may leave an event valid.
 */
export function fuzzedBodies(
  seed: number,
  count: number,
  opts: { vault: string; key: string; version: string; subscriptionId: string; poisoned: boolean },
): string[] {
  const rnd = mulberry32(seed);
  const bodies: string[] = [];
  for (let i = 0; i < count; i++) {
    const event = validKeyEvent(rnd() < 0.5 ? 'EventGrid' : 'CloudEvents', opts);
    const mutations = (opts.poisoned ? 0 : 1) + Math.floor(rnd() * 3);
    for (let m = 0; m < mutations; m++) mutate(rnd, event);
    if (opts.poisoned) pick(rnd, POISONS)(rnd, event);
    let text = JSON.stringify(rnd() < 0.7 ? [event] : event, (_k, v: unknown) =>
      // JSON.stringify recurses: write deep nesting as text, as a hostile sender would.
      isDeep(v) ? DEEP_MARK : v,
    ).replace(`"${DEEP_MARK}"`, DEEP_TEXT);
    const r = rnd();
    if (r < 0.04) text = text.slice(0, Math.floor(rnd() * text.length));
    else if (r < 0.05) text = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    bodies.push(text);
  }
  return bodies;
}

const DEEP_MARK = 'DEEP-NESTING-MARK';
const DEEP_TEXT = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
const deepValues = new WeakSet();

function isDeep(v: unknown): boolean {
  return typeof v === 'object' && v !== null && deepValues.has(v);
}
