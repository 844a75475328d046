/**
 * The CLI's commands and flags, and the help generated from them (`pg-cmk-rotator <command> --help`).
 * One table for the parser, the help and the did-you-mean, so they cannot disagree.
 */

export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** `--output FORMAT` in the help. */
  readonly value?: string;
  readonly help: string;
}

export interface CommandSpec {
  readonly name: string;
  /** `<vault> <key>`; `[...]` optional. */
  readonly args: string;
  /** How many positional arguments: [min, max] (max Infinity for lists). */
  readonly arity: readonly [number, number];
  readonly summary: string;
  readonly details?: string;
  readonly flags: readonly string[];
  readonly examples: readonly string[];
  /** Changes something: takes --reason and --ticket. */
  readonly write?: boolean;
}

/** Flags every command takes (az: global arguments). */
export const GLOBAL_FLAGS: Readonly<Record<string, FlagSpec>> = {
  url: {
    type: 'string',
    value: 'URL',
    help: "the app's base URL (or PG_CMK_ROTATOR_URL; else the local runtime's .local/ready.json)",
  },
  key: { type: 'string', value: 'KEY', help: 'a function key (or PG_CMK_ROTATOR_KEY)' },
  ready: {
    type: 'string',
    value: 'FILE',
    help: 'the ready file of a local runtime (or PG_CMK_ROTATOR_READY)',
  },
  output: { type: 'string', short: 'o', value: 'FORMAT', help: 'json, table or tsv (default table)' },
  json: { type: 'boolean', help: 'the same as --output json' },
  query: {
    type: 'string',
    value: 'JMESPATH',
    help: 'JMESPath query over the JSON result (https://jmespath.org)',
  },
  help: { type: 'boolean', short: 'h', help: 'this help' },
};

export const COMMAND_FLAGS: Readonly<Record<string, FlagSpec>> = {
  reason: {
    type: 'string',
    value: 'TEXT',
    help: 'why (recorded in the audit record of the request; 500 characters)',
  },
  ticket: {
    type: 'string',
    value: 'ID',
    help: 'change or incident ticket (recorded with the request; e.g. CHG-1234)',
  },
  wait: { type: 'boolean', help: 'show the progress until the run ends (exit 1 if it ends with failures)' },
  interval: { type: 'string', value: 'S', help: 'seconds between polls with --wait (default 1)' },
  timeout: { type: 'string', value: 'S', help: 'give up waiting after S seconds (default 3600; exit 5)' },
  limit: { type: 'string', short: 'L', value: 'N', help: 'at most N runs (default 20)' },
};

const W = ['reason', 'ticket'];

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'status',
    args: '[<vault> <key>]',
    arity: [0, 2],
    summary: "every key's running or last rotation, and the last runs",
    flags: ['limit'],
    examples: [
      'pg-cmk-rotator status',
      'pg-cmk-rotator status contoso-pg-kv pg-cmk',
      "pg-cmk-rotator status -o json --query 'rotations[?running]'",
    ],
  },
  {
    name: 'runs',
    args: '[<vault> <key>]',
    arity: [0, 2],
    summary: 'the history of runs, newest first (like gh run list): kind, outcome, start, duration',
    details: 'kind: event (Key Vault event), operator, sweep, retry, health (health watch).',
    flags: ['limit'],
    examples: [
      'pg-cmk-rotator runs',
      'pg-cmk-rotator runs contoso-pg-kv pg-cmk -L 5',
      'pg-cmk-rotator runs -o tsv --query "[?status!=\'completed\'].[key,kind,startedAt]"',
    ],
  },
  {
    name: 'posture',
    args: '',
    arity: [0, 0],
    summary: 'the fleet posture: servers by risk, keys and their expiry (GET /api/posture)',
    flags: [],
    examples: [
      'pg-cmk-rotator posture',
      'pg-cmk-rotator posture -o json --query "servers[?risk==\'critical\'].serverName"',
    ],
  },
  {
    name: 'plan',
    args: '<vault> <key>',
    arity: [2, 2],
    summary: 'what a rotation would do now (dry run; nothing changes)',
    flags: [],
    examples: [
      'pg-cmk-rotator plan contoso-pg-kv pg-cmk',
      'pg-cmk-rotator plan contoso-pg-kv pg-cmk -o json',
    ],
  },
  {
    name: 'rotate',
    args: '<vault> <key>',
    arity: [2, 2],
    summary: "start (or signal) the key's rotation",
    flags: [...W, 'wait', 'interval', 'timeout'],
    write: true,
    examples: [
      'pg-cmk-rotator rotate contoso-pg-kv pg-cmk --reason "quarterly rotation" --ticket CHG-1234 --wait',
    ],
  },
  {
    name: 'retry',
    args: '<vault> <key> <server>',
    arity: [3, 3],
    summary: "retry one server that failed in the key's last run",
    flags: [...W, 'wait', 'interval', 'timeout'],
    write: true,
    examples: [
      'pg-cmk-rotator retry contoso-pg-kv pg-cmk pg-reporting --reason "grant restored" --ticket INC-42 --wait',
    ],
  },
  {
    name: 'sweep',
    args: '',
    arity: [0, 0],
    summary: 'run the reconcile sweep now',
    flags: W,
    write: true,
    examples: ['pg-cmk-rotator sweep --reason "after the outage" --ticket INC-42'],
  },
  {
    name: 'replay',
    args: '<file>... | -',
    arity: [1, Infinity],
    summary: 're-send dead-lettered events: each file one dead-letter blob; - reads one from stdin',
    details: 'Download the blobs with az storage blob download ... first.',
    flags: W,
    write: true,
    examples: ['pg-cmk-rotator replay deadletter-1.json --reason "subscription fixed" --ticket INC-42'],
  },
];

export const EXIT_CODES =
  'exit codes: 0 ok, 1 ended with failures, 2 usage, 3 refused by the API (or an unknown vault or key), 4 key refused, 5 unreachable or 5xx';

const flagLine = (name: string, f: FlagSpec): string => {
  const left = `${f.short !== undefined ? `-${f.short}, ` : '    '}--${name}${f.value !== undefined ? ` ${f.value}` : ''}`;
  return `  ${left.padEnd(24)} ${f.help}`;
};

export const USAGE = `usage: pg-cmk-rotator <command> [options]

commands:
${COMMANDS.map((c) => `  ${`${c.name} ${c.args}`.padEnd(30)} ${c.summary}`).join('\n')}

global options:
${Object.entries(GLOBAL_FLAGS)
  .map(([n, f]) => flagLine(n, f))
  .join('\n')}

pg-cmk-rotator <command> --help shows the command's options and examples.
${EXIT_CODES}`;

/** `pg-cmk-rotator <command> --help`. */
export function commandHelp(c: CommandSpec): string {
  const own = c.flags.map((n) => flagLine(n, COMMAND_FLAGS[n] ?? { type: 'boolean', help: '' }));
  return [
    `usage: pg-cmk-rotator ${c.name}${c.args !== '' ? ` ${c.args}` : ''} [options]`,
    '',
    `${c.summary}.${c.details !== undefined ? ` ${c.details}` : ''}`,
    ...(own.length > 0 ? ['', 'options:', ...own] : []),
    '',
    'global options:',
    ...Object.entries(GLOBAL_FLAGS).map(([n, f]) => flagLine(n, f)),
    '',
    'examples:',
    ...c.examples.map((e) => `  ${e}`),
    '',
    EXIT_CODES,
  ].join('\n');
}
