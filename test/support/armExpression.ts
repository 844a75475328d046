/**
 * Just enough of ARM's template expression language to turn what `bicep snapshot` leaves unevaluated in app
 * settings (`[join(createArray(format('https://{0}{1}', 'kv', environment().suffixes.keyvaultDns)), ',')]`,
 * `[reference('<id>', '<api>').clientId]`) into the values Azure would set, so the app's own loadConfig can read
 * them. environment() is the public cloud's; reference() gives fixed stand-in values of a deployed resource.
 * An unknown function throws (the test then names it) rather than guessing.
 */
export type ArmValue = string | number | boolean | null | ArmValue[] | { [key: string]: ArmValue };
type Value = ArmValue;

/** What reference() of a resource of this deployment returns, for the properties app settings read. */
export const REFERENCE_VALUES: Record<string, Value> = {
  clientId: '0e3a6c1e-5d7b-4b8e-9c0a-2f4d6e8a1b3c',
  principalId: '7d1f3b5a-9c2e-4f6a-8b0d-1e3c5a7b9d2f',
  ConnectionString:
    'InstrumentationKey=00000000-0000-0000-0000-000000000001;IngestionEndpoint=https://example/',
  primaryEndpoints: {
    blob: 'https://st.blob.core.windows.net/',
    queue: 'https://st.queue.core.windows.net/',
    table: 'https://st.table.core.windows.net/',
  },
};

const ENVIRONMENT: Value = {
  name: 'AzureCloud',
  suffixes: { keyvaultDns: '.vault.azure.net', storage: 'core.windows.net' },
  authentication: { loginEndpoint: 'https://login.microsoftonline.com/' },
};

/** A scalar as ARM prints it in a string; an object or array there is a mistake in the expression. */
function str(v: Value | undefined): string {
  if (v === undefined || (v !== null && typeof v === 'object'))
    throw new Error(`not a scalar: ${JSON.stringify(v)}`);
  return String(v);
}

const FUNCTIONS: Record<string, (args: Value[]) => Value> = {
  createArray: (args) => args,
  concat: (args) => args.flatMap((a) => (Array.isArray(a) ? a : [a])),
  join: ([list, sep]) => (list as Value[]).map(str).join(str(sep)),
  format: ([template, ...args]) =>
    str(template).replace(/\{(\d+)\}/g, (_, i: string) => str(args[Number(i)])),
  replace: ([s, from, to]) => str(s).split(str(from)).join(str(to)),
  toLower: ([s]) => str(s).toLowerCase(),
  environment: () => ENVIRONMENT,
  reference: () => REFERENCE_VALUES,
};

export function evaluateArm(text: string): Value {
  if (!text.startsWith('[') || text.startsWith('[[')) return text;
  const src = text.slice(1, -1);
  let pos = 0;
  const skip = (): void => {
    while (src[pos] === ' ') pos++;
  };
  const expect = (c: string): void => {
    skip();
    if (src[pos] !== c) throw new Error(`expected ${c} at ${pos} in ${text}`);
    pos++;
  };
  const primary = (): Value => {
    skip();
    if (src[pos] === "'") {
      let s = '';
      pos++;
      for (;;) {
        const c = src[pos++];
        if (c === undefined) throw new Error(`unterminated string in ${text}`);
        if (c === "'") {
          if (src[pos] === "'") {
            s += "'";
            pos++;
            continue;
          }
          return s;
        }
        s += c;
      }
    }
    const num = /^-?\d+/.exec(src.slice(pos));
    if (num !== null) {
      pos += num[0].length;
      return Number(num[0]);
    }
    const name = /^[A-Za-z]\w*/.exec(src.slice(pos))?.[0];
    if (name === undefined) throw new Error(`unexpected ${src.slice(pos)} in ${text}`);
    pos += name.length;
    const fn = FUNCTIONS[name];
    if (fn === undefined) throw new Error(`unknown function ${name} in ${text}`);
    expect('(');
    const args: Value[] = [];
    skip();
    if (src[pos] === ')') pos++;
    else
      for (;;) {
        args.push(expression());
        skip();
        if (src[pos] === ',') pos++;
        else {
          expect(')');
          break;
        }
      }
    return fn(args);
  };
  const expression = (): Value => {
    let v = primary();
    while (src[pos] === '.') {
      pos++;
      const key = /^\w+/.exec(src.slice(pos))?.[0] ?? '';
      pos += key.length;
      if (v === null || typeof v !== 'object' || Array.isArray(v) || !(key in v))
        throw new Error(`no property ${key} in ${text}`);
      v = v[key] ?? null;
    }
    return v;
  };
  const result = expression();
  skip();
  if (pos !== src.length) throw new Error(`trailing ${src.slice(pos)} in ${text}`);
  return result;
}
