import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A command-line mistake: printed as one line with the usage, exit code 2. */
export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

export interface Cli {
  /** A string option's value, when given. */
  string(name: string): string | undefined;
  /** Whether a boolean option was given. */
  flag(name: string): boolean;
  readonly help: boolean;
  readonly positionals: readonly string[];
}

/**
 * Parses the options of a local CLI (`--help` included), refusing unknown options and stray arguments
 * with a UsageError rather than a stack trace.
 */
export function parseCli(
  options: Options,
  args: string[] = process.argv.slice(2),
  allowPositionals = false,
): Cli {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals,
    });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const { values, positionals } = parsed;
  return {
    string: (name) => {
      const v = values[name];
      return typeof v === 'string' ? v : undefined;
    },
    flag: (name) => values[name] === true,
    help: values['help'] === true,
    positionals,
  };
}

/** Ends the process for a failure of a local CLI: one line (or the fleet's problems), never a stack. */
export function fail(prefix: string, e: unknown, usage: string): never {
  if (e instanceof UsageError) {
    console.error(`${prefix} ${e.message}\n${usage.split('\n')[0] ?? ''} (--help for more)`);
    process.exit(2);
  }
  console.error(`${prefix} ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}

/** A `--port` option: a TCP port, 0 (or absent) for any free one. */
export function portOption(value: string | undefined, name = '--port'): number {
  if (value === undefined) return 0;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535)
    throw new UsageError(`${name} must be a TCP port (got "${value}")`);
  return port;
}

/**
 * What `npm start` says once the run is checked: with --keep, where the status page and the CLI reach the
 * host that stays up; without, that the host has stopped and how to keep it.
 */
export function afterTheRun(keep: boolean, url: string, functionKey: string): string {
  return keep
    ? `Serving (--keep) until Ctrl+C:\n  status page  ${url}/api/status?code=${functionKey}\n  CLI          npx pg-cmk-rotator status --url ${url} --key ${functionKey}`
    : 'The stand-ins and the host stop now. To look around afterwards (status page, CLI), run: npm start -- --keep';
}
