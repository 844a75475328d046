#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseCommandLine, type Parsed } from './args';
import { call, CliError, EXIT, resolveTarget, type Target } from './client';
import { checkVaultAndKey } from './names';
import { render } from './output';
import {
  planView,
  postureView,
  runsView,
  statusView,
  type KeyRunsDoc,
  type PlanDoc,
  type PostureDoc,
  type RunRow,
  type StatusRow,
} from './views';
import { progressLine, type ApiProgress } from './progress';

/**
 * `npx pg-cmk-rotator <command>`: the operator API from a terminal or a script, with `az`'s and `gh`'s
 * conventions: `-o json|table|tsv` and `--query` (JMESPath) on every command, `<command> --help` with
 * examples, did-you-mean for commands, flags, vaults and keys, `--reason`/`--ticket` on every write.
 * Talks HTTP only (the deployed app or `npm run local`); exit codes in `EXIT` (cli/client.ts).
 */

interface Options {
  readonly p: Parsed;
  readonly wait: boolean;
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

type Out = (line: string) => void;

const seg = (s: string) => encodeURIComponent(s);
const short = (v: unknown) => (typeof v === 'string' ? v.slice(0, 8) : 'versionless');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface RotationState {
  readonly runtimeStatus: string;
  readonly createdTime?: string | null;
  readonly lastUpdatedTime?: string | null;
  readonly progress?: ApiProgress | null;
  readonly result?: {
    readonly status: string;
    readonly targetVersion?: string | null;
    readonly counts: ApiProgress['counts'];
    readonly failedServers: readonly string[];
    readonly openIncidents: number;
  } | null;
}

const TERMINAL = ['Completed', 'Failed', 'Terminated', 'Canceled'];

/** Polls the key's rotation until it ends, drawing its progress; returns the exit code. */
async function waitForRotation(
  target: Target,
  vault: string,
  key: string,
  o: Options,
  out: Out,
  err: Out,
): Promise<number> {
  const path = `/api/rotations/${seg(vault)}/${seg(key)}`;
  const tty = process.stderr.isTTY;
  const deadline = Date.now() + o.timeoutMs;
  let last = '';
  for (;;) {
    const { status, body } = await call(target, 'GET', path, { accept: [404] });
    const state = status === 404 ? undefined : (body as RotationState);
    if (state !== undefined && TERMINAL.includes(state.runtimeStatus)) {
      if (tty && last !== '') process.stderr.write('\n');
      const result = state.result ?? undefined;
      const ok = state.runtimeStatus === 'Completed' && result?.status === 'completed';
      out(
        render(state, o.p, () => {
          if (result === undefined) return `${vault}/${key}: ${state.runtimeStatus}`;
          const c = result.counts;
          return `${vault}/${key}: ${result.status}, target ${short(result.targetVersion)}: ${c.done} done, ${c.failed} failed, ${c.skipped} skipped${result.failedServers.length > 0 ? ` (failed: ${result.failedServers.join(', ')})` : ''}; ${result.openIncidents} open incident(s)`;
        }),
      );
      return ok ? EXIT.ok : EXIT.failures;
    }
    const p = state?.progress ?? undefined;
    const line = p === undefined ? `${state?.runtimeStatus ?? 'Pending'}…` : progressLine(p);
    if (line !== last) {
      if (tty) process.stderr.write(`\r\x1b[2K${line}`);
      else err(line);
      last = line;
    }
    if (Date.now() > deadline) {
      if (tty) process.stderr.write('\n');
      throw new CliError(
        `gave up waiting for ${vault}/${key} after ${o.timeoutMs / 1000} s`,
        EXIT.unavailable,
      );
    }
    await sleep(o.intervalMs);
  }
}

/** Runs one command line; a refusal or usage error is printed on `err` and becomes its exit code. */
export async function run(argv: readonly string[], out: Out, err: Out): Promise<number> {
  try {
    return await runCommand(argv, out, err);
  } catch (e) {
    if (e instanceof CliError) return (err(e.message), e.exitCode);
    throw e;
  }
}

async function runCommand(argv: readonly string[], out: Out, err: Out): Promise<number> {
  let p: Parsed;
  try {
    const parsed = parseCommandLine(argv);
    if ('help' in parsed) {
      (parsed.exitCode === EXIT.ok ? out : err)(parsed.help);
      return parsed.exitCode;
    }
    p = parsed;
  } catch (e) {
    if (e instanceof CliError && e.exitCode === EXIT.usage) return (err(e.message), EXIT.usage);
    throw e;
  }
  const v = p.values;
  const str = (name: string): string | undefined => (typeof v[name] === 'string' ? v[name] : undefined);
  const seconds = (name: string, d: number) => {
    const n = str(name) === undefined ? d : Number(str(name));
    if (!Number.isFinite(n) || n <= 0)
      throw new CliError(`--${name} ${str(name) ?? ''}: not a number of seconds`, EXIT.usage);
    return n * 1000;
  };
  // A count (checked by parseCommandLine, before anything is sent).
  const limit = (d: number) => (str('limit') === undefined ? d : Number(str('limit')));
  const o: Options = {
    p,
    wait: v['wait'] === true,
    intervalMs: seconds('interval', 1),
    timeoutMs: seconds('timeout', 3600),
  };
  // What every write sends and the audit record of the request keeps.
  const note = {
    ...(str('reason') !== undefined ? { reason: str('reason') } : {}),
    ...(str('ticket') !== undefined ? { ticket: str('ticket') } : {}),
  };
  const target = resolveTarget(
    { url: str('url'), key: str('key'), ready: str('ready') },
    process.env,
    process.cwd(),
  );
  const [vault = '', key = '', server = ''] = p.args;
  const show = (doc: unknown, human: () => string) => out(render(doc, p, human));

  switch (p.command.name) {
    case 'status': {
      if (p.args.length === 1) throw new CliError(`status takes no arguments or <vault> <key>`, EXIT.usage);
      if (p.args.length === 2) await checkVaultAndKey(target, vault, key);
      const { body } = await call(target, 'GET', '/api/rotations');
      const all = (body as { rotations: StatusRow[] }).rotations;
      const rotations = p.args.length === 2 ? all.filter((r) => sameKey(r, vault, key)) : all;
      const runs = (await listRuns(target, p.args.length === 2 ? [vault, key] : undefined)).slice(
        0,
        limit(5),
      );
      show({ rotations, runs }, () => statusView(rotations, runs, Date.now()));
      return EXIT.ok;
    }
    case 'runs': {
      if (p.args.length === 1) throw new CliError(`runs takes no arguments or <vault> <key>`, EXIT.usage);
      if (p.args.length === 2) await checkVaultAndKey(target, vault, key);
      const runs = (await listRuns(target, p.args.length === 2 ? [vault, key] : undefined)).slice(
        0,
        limit(20),
      );
      show(runs, () => runsView(runs, Date.now()));
      return EXIT.ok;
    }
    case 'posture': {
      const { body } = await call(target, 'GET', '/api/posture');
      show(body, () => postureView(body as PostureDoc));
      return EXIT.ok;
    }
    case 'plan': {
      await checkVaultAndKey(target, vault, key);
      const { body } = await call(target, 'GET', `/api/rotations/${seg(vault)}/${seg(key)}/plan`);
      const plan = body as PlanDoc;
      show(body, () => planView(plan, vault, key));
      return plan.preflight?.passed === false ? EXIT.failures : EXIT.ok;
    }
    case 'rotate': {
      await checkVaultAndKey(target, vault, key);
      const { body } = await call(target, 'POST', `/api/rotations/${seg(vault)}/${seg(key)}`, { body: note });
      const started = body as { kind: string; instanceId: string };
      if (!o.wait) return (show(body, () => `${started.kind}: ${started.instanceId}`), EXIT.ok);
      err(`${started.kind}: ${started.instanceId}`);
      return waitForRotation(target, vault, key, o, out, err);
    }
    case 'retry': {
      await checkVaultAndKey(target, vault, key);
      const { body } = await call(
        target,
        'POST',
        `/api/rotations/${seg(vault)}/${seg(key)}/servers/${seg(server)}/retry`,
        { body: note },
      );
      const started = body as { kind: string; instanceId: string };
      const said = `retry of ${server} ${started.kind}: ${started.instanceId}`;
      if (!o.wait) return (show(body, () => said), EXIT.ok);
      err(said);
      return waitForRotation(target, vault, key, o, out, err);
    }
    case 'replay': {
      // Every blob read and parsed before the first is sent: a missing or unreadable file found after
      // files 1..N-1 were replayed would exit 2 ("nothing sent") with their events already handled.
      const blobs = readBlobs(p.args);
      let rejected = 0;
      const all: { source: string; events: ReplayedEvent[] }[] = [];
      const lines: string[] = [];
      // The body is the blob itself: the note goes in headers.
      const headers: Record<string, string> = {};
      if (note.reason !== undefined) headers['x-operator-reason'] = note.reason;
      if (note.ticket !== undefined) headers['x-operator-ticket'] = note.ticket;
      for (const { file, content } of blobs) {
        const { body } = await call(
          target,
          'POST',
          `/api/events/replay?source=${seg(file === '-' ? 'stdin' : basename(file))}`,
          { raw: content, headers },
        );
        const r = body as { source: string; events: ReplayedEvent[] };
        all.push(r);
        for (const e of r.events) {
          if (e.outcome.kind === 'rejected') rejected++;
          lines.push(
            `${file}: ${e.eventId ?? '(no id)'} ${e.outcome.kind}${e.outcome.kind === 'rejected' ? ` ${e.outcome.code ?? ''}: ${e.outcome.reason ?? ''}` : ''}`,
          );
        }
      }
      show(all, () => lines.join('\n'));
      return rejected > 0 ? EXIT.failures : EXIT.ok;
    }
    default: {
      const { body } = await call(target, 'POST', '/api/sweep', { body: note });
      const r = body as {
        keysChecked: number;
        requested: { key: string; why: string; outcome: string }[];
        errors: string[];
      };
      show(body, () =>
        [
          `Sweep: ${r.keysChecked} key(s) checked, ${r.requested.length} rotation(s) requested`,
          ...r.requested.map((q) => `  ${q.key}: ${q.outcome} (${q.why})`),
          ...r.errors.map((e) => `  unreadable: ${e}`),
        ].join('\n'),
      );
      return r.errors.length > 0 ? EXIT.failures : EXIT.ok;
    }
  }
}

/**
 * The dead-letter blobs named on the command line (`-` is stdin, once), each read and checked to be
 * JSON (Event Grid writes a blob as a JSON array of events): a usage error, before anything is sent.
 */
function readBlobs(files: readonly string[]): { file: string; content: string }[] {
  if (files.filter((f) => f === '-').length > 1)
    throw new CliError(`replay reads stdin (-) once; give it once. Nothing was sent.`, EXIT.usage);
  return files.map((file) => {
    let content: string;
    try {
      content = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
    } catch (e) {
      throw new CliError(
        `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}. Nothing was sent.`,
        EXIT.usage,
      );
    }
    try {
      JSON.parse(content);
    } catch (e) {
      throw new CliError(
        `${file} is not JSON (a dead-letter blob is a JSON array of events): ${e instanceof Error ? e.message : String(e)}. Nothing was sent.`,
        EXIT.usage,
      );
    }
    return { file, content };
  });
}

interface ReplayedEvent {
  readonly eventId?: string;
  readonly outcome: { readonly kind: string; readonly code?: string; readonly reason?: string };
}

const sameKey = (r: { vault: string; key: string }, vault: string, key: string) =>
  r.vault.toLowerCase() === vault.toLowerCase() && r.key.toLowerCase() === key.toLowerCase();

/** Every run, newest first, the running ones on top (`GET /api/runs`, flattened); empty from an app without it. */
async function listRuns(target: Target, only: readonly [string, string] | undefined): Promise<RunRow[]> {
  const { status, body } = await call(target, 'GET', '/api/runs', { accept: [404] });
  if (status === 404) return [];
  const keys = (body as { keys: KeyRunsDoc[] }).keys.filter(
    (k) => only === undefined || sameKey(k, only[0], only[1]),
  );
  const rows: RunRow[] = [];
  for (const k of keys) {
    if (k.running !== undefined && k.running !== null)
      rows.push({
        vault: k.vault,
        key: k.key,
        kind: '',
        status: 'running',
        trigger: '',
        startedAt: k.running.startedAt ?? '',
        endedAt: null,
        targetVersion: k.running.progress?.targetVersion ?? null,
        counts: k.running.progress?.counts ?? null,
      });
    for (const r of k.runs)
      rows.push({
        vault: k.vault,
        key: k.key,
        kind: r.kind,
        status: r.status,
        trigger: r.trigger,
        startedAt: r.startedAt,
        endedAt: r.endedAt,
        targetVersion: r.targetVersion ?? null,
        counts: r.counts,
      });
  }
  return rows.sort(
    (a, b) =>
      Number(b.status === 'running') - Number(a.status === 'running') ||
      b.startedAt.localeCompare(a.startedAt),
  );
}

if (require.main === module) {
  run(
    process.argv.slice(2),
    (l) => console.log(l),
    (l) => console.error(l),
  ).then(
    (code) => (process.exitCode = code),
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : String(e));
      process.exitCode = e instanceof CliError ? e.exitCode : EXIT.unavailable;
    },
  );
}
