import { InvalidInputError } from '../domain/errors';
import { FUNCTION_NAMES } from '../domain/names';

/**
 * The query parameters each operator endpoint accepts. Parsed strictly: a name not listed here (other
 * than the function key's `code`) or a value that is not exactly one of the accepted ones is refused
 * with 400 naming what is accepted, before anything is read or started — `?dryRun=1` or `?dryrun=true`
 * must never fall through to a real rotation (issue 19).
 */
export type QueryParameterKind = 'boolean' | 'text';
export type QuerySpec = Readonly<Record<string, QueryParameterKind>>;

/** `code` carries the function key (Azure Functions' key authorization): always accepted, never echoed. */
export const FUNCTION_KEY_PARAMETER = 'code';
/** The values a `boolean` parameter takes, exactly (no `1`, `yes`, `TRUE`). */
export const BOOLEAN_VALUES = ['true', 'false'] as const;
/** A `text` parameter: one line of at most this many characters. */
export const MAX_TEXT_PARAMETER = 300;

/** A query parameter the endpoint does not accept, or a value it does not take (HTTP 400). */
export class OperatorQueryError extends InvalidInputError {
  /** The accepted names, each with its accepted values: what the 400 answer lists. */
  readonly accepted: Readonly<Record<string, string>>;

  constructor(message: string, spec: QuerySpec) {
    super('InvalidQueryParameter', message);
    this.accepted = acceptedOf(spec);
  }
}

/** What a parameter takes, in words for the answer. */
export function acceptedOf(spec: QuerySpec): Record<string, string> {
  return Object.fromEntries(
    Object.entries(spec).map(([name, kind]) => [
      name,
      kind === 'boolean' ? BOOLEAN_VALUES.join(' | ') : `text (at most ${MAX_TEXT_PARAMETER} characters)`,
    ]),
  );
}

/** A name or value safe to repeat in an answer and the audit trail: short and plain, or not at all. */
function shown(s: string, what: string): string {
  return /^[A-Za-z0-9_.-]{1,40}$/.test(s) ? `"${s}"` : `a ${what} that is not plain text`;
}

function acceptedText(spec: QuerySpec): string {
  const names = Object.entries(acceptedOf(spec)).map(([n, v]) => `${n} (${v})`);
  return names.length === 0 ? 'this endpoint takes no query parameters' : `accepted: ${names.join(', ')}`;
}

export interface ParsedQuery {
  readonly booleans: Readonly<Record<string, boolean>>;
  readonly texts: Readonly<Record<string, string>>;
}

/**
 * Parses a request's query (every name=value pair as sent, repeats included) against the endpoint's
 * spec; throws `OperatorQueryError`. Names are case-sensitive (`dryrun` is not `dryRun`). Unknown
 * names and bad values are echoed only when they are short plain text: a mistyped `code` carries a key.
 */
export function parseOperatorQuery(spec: QuerySpec, query: Iterable<[string, string]>): ParsedQuery {
  const booleans: Record<string, boolean> = {};
  const texts: Record<string, string> = {};
  const seen = new Set<string>();
  for (const [name, value] of query) {
    if (name === FUNCTION_KEY_PARAMETER) continue;
    const kind = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (kind === undefined)
      throw new OperatorQueryError(
        `Unknown query parameter ${shown(name, 'name')}: ${acceptedText(spec)}. Nothing was done.`,
        spec,
      );
    if (seen.has(name))
      throw new OperatorQueryError(`Query parameter "${name}" is given twice. Nothing was done.`, spec);
    seen.add(name);
    if (kind === 'boolean') {
      if (value !== 'true' && value !== 'false')
        throw new OperatorQueryError(
          `Query parameter "${name}" must be exactly ${BOOLEAN_VALUES.join(' or ')}, not ${shown(value, 'value')}. Nothing was done.`,
          spec,
        );
      booleans[name] = value === 'true';
    } else {
      if (value.trim() === '' || value.length > MAX_TEXT_PARAMETER || /[\u0000-\u001f\u007f]/.test(value))
        throw new OperatorQueryError(
          `Query parameter "${name}" must be one line of 1 to ${MAX_TEXT_PARAMETER} characters. Nothing was done.`,
          spec,
        );
      texts[name] = value;
    }
  }
  return { booleans, texts };
}

/** Every name=value pair of a request URL's query, repeats included (what `parseOperatorQuery` reads). */
export function queryPairs(url: string): [string, string][] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [];
  }
  return [...parsed.searchParams.entries()];
}

/**
 * The query parameters of every operator endpoint, by function and method (README, "Operator API").
 * An endpoint not listed takes none.
 */
export const OPERATOR_QUERY: Readonly<Record<string, Readonly<Record<string, QuerySpec>>>> = {
  [FUNCTION_NAMES.keyRotationApi]: { GET: {}, POST: { dryRun: 'boolean' } },
  [FUNCTION_NAMES.replayEvents]: { POST: { source: 'text' } },
};

/** The spec of one endpoint and method: none when it takes no query parameters. */
export function querySpecOf(functionName: string, method: string): QuerySpec {
  return OPERATOR_QUERY[functionName]?.[method.toUpperCase()] ?? {};
}
