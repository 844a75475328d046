import { parseArgs } from 'node:util';
import { CliError, EXIT } from './client';
import {
  COMMAND_FLAGS,
  COMMANDS,
  commandHelp,
  GLOBAL_FLAGS,
  USAGE,
  type CommandSpec,
  type FlagSpec,
} from './commands';
import { queryProblem } from './query';
import { didYouMean } from '../shared/domain/suggest';

/**
 * The command line, parsed strictly: a command the CLI has, the flags that command takes (global ones
 * included), the number of arguments it takes and an output format it knows. Anything else is a usage
 * error (exit 2) naming what is accepted, with a did-you-mean, before anything is sent.
 */
export type OutputFormat = 'json' | 'table' | 'tsv';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['json', 'table', 'tsv'];

export interface Parsed {
  readonly command: CommandSpec;
  readonly args: readonly string[];
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  readonly output: OutputFormat;
  readonly query: string | undefined;
}

/** `--help` or no command: what to print and the exit code. */
export interface HelpAsked {
  readonly help: string;
  readonly exitCode: number;
}

/** A usage error: the message, then where the help is (the whole usage for an unknown command). */
const usage = (message: string, command?: CommandSpec) =>
  new CliError(
    command === undefined
      ? `${message}\n\n${USAGE}`
      : `${message}\nSee 'pg-cmk-rotator ${command.name} --help'.`,
    EXIT.usage,
  );

/** Flags that take a value, by long name and short letter (to find the command among the words). */
function takesValue(word: string): boolean {
  const all = { ...GLOBAL_FLAGS, ...COMMAND_FLAGS };
  if (word.startsWith('--'))
    return all[word.slice(2).split('=')[0] ?? '']?.type === 'string' && !word.includes('=');
  if (/^-[A-Za-z]$/.test(word))
    return Object.values(all).some((f) => f.short === word.slice(1) && f.type === 'string');
  return false;
}

/** The first word that is neither a flag nor a flag's value. */
function findCommand(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i] ?? '';
    if (w === '--') return argv[i + 1];
    if (w.startsWith('-') && w !== '-') {
      if (takesValue(w)) i++;
      continue;
    }
    return w;
  }
  return undefined;
}

export function parseCommandLine(argv: readonly string[]): Parsed | HelpAsked {
  const name = findCommand(argv);
  const command = COMMANDS.find((c) => c.name === name);
  if (name !== undefined && command === undefined)
    throw usage(
      `unknown command "${name}"${didYouMean(
        name,
        COMMANDS.map((c) => c.name),
      )}`,
    );
  const flags: Record<string, FlagSpec> = { ...GLOBAL_FLAGS };
  for (const f of command?.flags ?? []) {
    const spec = COMMAND_FLAGS[f];
    if (spec !== undefined) flags[f] = spec;
  }
  const help = command === undefined ? USAGE : commandHelp(command);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: Object.fromEntries(
        Object.entries(flags).map(([n, f]) => [
          n,
          { type: f.type, ...(f.short !== undefined ? { short: f.short } : {}) },
        ]),
      ),
    });
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const unknown = /Unknown option '(-{1,2}[^']+)'/.exec(message)?.[1];
    if (unknown !== undefined) {
      const accepted = Object.keys(flags).map((n) => `--${n}`);
      const where = command === undefined ? '' : ` for ${command.name}`;
      const other = COMMANDS.filter((c) => c !== command && c.flags.includes(unknown.replace(/^-+/, ''))).map(
        (c) => c.name,
      );
      throw usage(
        `unknown flag ${unknown}${where}${didYouMean(unknown.replace(/^-+/, ''), Object.keys(flags), '--')}${other.length > 0 ? `; ${unknown} is for ${other.join(', ')}` : ''}. Accepted: ${accepted.join(', ')}. Nothing was sent.`,
        command,
      );
    }
    throw usage(`${message}. Nothing was sent.`, command);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values['help'] === true) return { help, exitCode: EXIT.ok };
  if (command === undefined) return { help: USAGE, exitCode: EXIT.usage };
  const args = parsed.positionals.slice(1);
  const [min, max] = command.arity;
  if (args.length < min || args.length > max)
    throw usage(`${command.name} takes ${command.args === '' ? 'no arguments' : command.args}`, command);
  const given = values['output'];
  if (typeof given === 'string' && !OUTPUT_FORMATS.includes(given as OutputFormat))
    throw usage(
      `--output ${given}: not a format${didYouMean(given, OUTPUT_FORMATS)}; accepted: ${OUTPUT_FORMATS.join(', ')}`,
      command,
    );
  if (values['json'] === true && typeof given === 'string' && given !== 'json')
    throw usage(`--json and --output ${given} disagree: give one`, command);
  const output: OutputFormat =
    values['json'] === true ? 'json' : ((given as OutputFormat | undefined) ?? 'table');
  const query = typeof values['query'] === 'string' ? values['query'] : undefined;
  // Checked here, not when the answer is printed: after a write that would be too late.
  const bad = query === undefined ? undefined : queryProblem(query);
  if (bad !== undefined)
    throw usage(
      `--query ${query ?? ''}: ${bad} (JMESPath, https://jmespath.org). Nothing was sent.`,
      command,
    );
  const limit = values['limit'];
  if (typeof limit === 'string' && !(/^\d+$/.test(limit) && Number(limit) > 0))
    throw usage(`--limit ${limit}: not a count (a whole number from 1). Nothing was sent.`, command);
  return { command, args, values, output, query };
}
