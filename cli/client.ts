import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * How the CLI reaches the app: the base URL and function key from flags, else the environment
 * (`PG_CMK_ROTATOR_URL`, `PG_CMK_ROTATOR_KEY`), else the ready file `npm run local` writes
 * (`.local/ready.json`, or `--ready <file>` / `PG_CMK_ROTATOR_READY`). HTTP only: no Azure SDK.
 */
export interface Target {
  readonly url: string;
  readonly key: string | undefined;
  /** Where the values came from (said in error messages). */
  readonly source: string;
}

/** Exit codes scripts can rely on (README, "CLI"). */
export const EXIT = {
  ok: 0,
  /** The operation ran and ended with failures (rotate/retry --wait), or the plan cannot be applied. */
  failures: 1,
  usage: 2,
  /** The API refused the request (400, 404, 409): nothing was done. */
  refused: 3,
  /** No or a wrong function key (401, 403). */
  unauthorized: 4,
  /** The API could not be reached, or answered 5xx. */
  unavailable: 5,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export function resolveTarget(
  flags: { url?: string | undefined; key?: string | undefined; ready?: string | undefined },
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): Target {
  const url = flags.url ?? env['PG_CMK_ROTATOR_URL'];
  const key = flags.key ?? env['PG_CMK_ROTATOR_KEY'];
  if (url !== undefined && url !== '')
    return {
      url: url.replace(/\/+$/, ''),
      key,
      source: flags.url !== undefined ? '--url' : 'PG_CMK_ROTATOR_URL',
    };
  const file = resolve(cwd, flags.ready ?? env['PG_CMK_ROTATOR_READY'] ?? '.local/ready.json');
  if (!existsSync(file))
    throw new CliError(
      `No API to talk to: give --url (or PG_CMK_ROTATOR_URL) and --key (or PG_CMK_ROTATOR_KEY), or start \`npm run local\` (it writes ${file}).`,
      EXIT.usage,
    );
  let ready: { url?: unknown; key?: unknown };
  try {
    ready = JSON.parse(readFileSync(file, 'utf8')) as { url?: unknown; key?: unknown };
  } catch {
    throw new CliError(
      `${file} is not the ready file of a local runtime (JSON with url and key).`,
      EXIT.usage,
    );
  }
  if (typeof ready.url !== 'string' || typeof ready.key !== 'string')
    throw new CliError(
      `${file} is not the ready file of a local runtime (JSON with url and key).`,
      EXIT.usage,
    );
  const keyFrom =
    flags.key !== undefined ? ' (key: --key)' : key !== undefined ? ' (key: PG_CMK_ROTATOR_KEY)' : '';
  return { url: ready.url.replace(/\/+$/, ''), key: key ?? ready.key, source: `${file}${keyFrom}` };
}

export interface ApiAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** Calls the API; maps refusals to CliErrors with their exit codes (expected answers are returned). */
export async function call(
  target: Target,
  method: 'GET' | 'POST',
  path: string,
  options: {
    body?: unknown;
    raw?: string;
    accept?: readonly number[];
    headers?: Readonly<Record<string, string>>;
  } = {},
): Promise<ApiAnswer> {
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  if (target.key !== undefined) headers['x-functions-key'] = target.key;
  if (options.body !== undefined || options.raw !== undefined) headers['content-type'] = 'application/json';
  const payload = options.raw ?? (options.body !== undefined ? JSON.stringify(options.body) : undefined);
  let res: Response;
  try {
    res = await fetch(`${target.url}${path}`, {
      method,
      headers,
      ...(payload !== undefined ? { body: payload } : {}),
      signal: AbortSignal.timeout(120_000),
    });
  } catch (e) {
    throw new CliError(
      `Cannot reach ${target.url} (from ${target.source}): ${e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e)}`,
      EXIT.unavailable,
    );
  }
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  if ((options.accept ?? []).includes(res.status) || (res.status >= 200 && res.status < 300))
    return { status: res.status, body };
  const said =
    typeof body === 'object' && body !== null && typeof (body as { error?: unknown }).error === 'string'
      ? (body as { error: string }).error
      : typeof body === 'string' && body !== ''
        ? body.slice(0, 300)
        : `HTTP ${res.status}`;
  if (res.status === 401 || res.status === 403)
    throw new CliError(
      `${method} ${path}: HTTP ${res.status}: the function key (from ${target.source}) was refused.`,
      EXIT.unauthorized,
    );
  if (res.status >= 500)
    throw new CliError(`${method} ${path}: HTTP ${res.status}: ${said}`, EXIT.unavailable);
  throw new CliError(`${method} ${path}: HTTP ${res.status}: ${said}`, EXIT.refused);
}
