#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { call, CliError, EXIT, resolveTarget, type Target } from './client';
import { progressLine, table, type ApiProgress } from './progress';

/**
 * `npx pg-cmk-rotator <command>`: the operator API from a terminal or a script. Talks HTTP only (the
 * deployed app or `npm run local`); exit codes in `EXIT` (cli/client.ts), `--json` for machines.
 */
const USAGE = `usage: pg-cmk-rotator <command> [options]

commands:
  status                              every key's running or last rotation
  posture                             the fleet posture (GET /api/posture)
  plan <vault> <key>                  what a rotation would do now (dry run; nothing changes)
  rotate <vault> <key> [--reason R] [--wait]
                                      start (or signal) the key's rotation; --wait shows its progress
  retry <vault> <key> <server> [--wait]
                                      retry one server that failed in the key's last rotation
  sweep                               run the reconcile sweep now
  replay <file>... | -                re-send dead-lettered events: each file one dead-letter blob
                                      (az storage blob download ...); - reads one from stdin

options:
  --url URL      the app's base URL (or PG_CMK_ROTATOR_URL; else the local runtime's .local/ready.json)
  --key KEY      a function key (or PG_CMK_ROTATOR_KEY)
  --ready FILE   the ready file of a local runtime (or PG_CMK_ROTATOR_READY)
  --json         print the API's JSON (one document; with --wait, the final state)
  --interval S   seconds between polls with --wait (default 1)
  --timeout S    give up waiting after S seconds (default 3600; exit 5)

exit codes: 0 ok, 1 ended with failures, 2 usage, 3 refused by the API, 4 key refused, 5 unreachable or 5xx`;

interface Options {
  readonly json: boolean;
  readonly wait: boolean;
  readonly reason: string | undefined;
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
      if (o.json) out(JSON.stringify(state));
      else if (result !== undefined) {
        const c = result.counts;
        out(
          `${vault}/${key}: ${result.status}, target ${short(result.targetVersion)}: ${c.done} done, ${c.failed} failed, ${c.skipped} skipped${result.failedServers.length > 0 ? ` (failed: ${result.failedServers.join(', ')})` : ''}; ${result.openIncidents} open incident(s)`,
        );
      } else out(`${vault}/${key}: ${state.runtimeStatus}`);
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

export async function run(argv: readonly string[], out: Out, err: Out): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        key: { type: 'string' },
        ready: { type: 'string' },
        json: { type: 'boolean', default: false },
        wait: { type: 'boolean', default: false },
        reason: { type: 'string' },
        interval: { type: 'string' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    err(`${e instanceof Error ? e.message : String(e)}\n\n${USAGE}`);
    return EXIT.usage;
  }
  const { values, positionals } = parsed;
  const [command, ...args] = positionals;
  if (values.help || command === undefined) {
    (values.help ? out : err)(USAGE);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  const seconds = (v: string | undefined, d: number) => {
    const n = v === undefined ? d : Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new CliError(`not a number of seconds: ${v ?? ''}`, EXIT.usage);
    return n * 1000;
  };
  const need = (n: number, names: string) => {
    if (args.length !== n) throw new CliError(`${command} takes ${names}\n\n${USAGE}`, EXIT.usage);
  };
  const o: Options = {
    json: values.json,
    wait: values.wait,
    reason: values.reason,
    intervalMs: seconds(values.interval, 1),
    timeoutMs: seconds(values.timeout, 3600),
  };
  const known = ['status', 'posture', 'plan', 'rotate', 'retry', 'sweep', 'replay'];
  if (!known.includes(command)) throw new CliError(`unknown command "${command}"\n\n${USAGE}`, EXIT.usage);
  const target = resolveTarget(values, process.env, process.cwd());
  const [vault = '', key = '', server = ''] = args;

  switch (command) {
    case 'status': {
      need(0, 'no arguments');
      const { body } = await call(target, 'GET', '/api/rotations');
      const list = (
        body as { rotations: (RotationState & { vault: string; key: string; running: boolean })[] }
      ).rotations;
      if (o.json) return (out(JSON.stringify(body)), EXIT.ok);
      if (list.length === 0) return (out('No rotation has run yet.'), EXIT.ok);
      const rows = [['key', 'state', 'progress / outcome', 'updated']];
      for (const r of list)
        rows.push([
          `${r.vault}/${r.key}`,
          r.running ? r.runtimeStatus : (r.result?.status ?? r.runtimeStatus),
          r.running
            ? r.progress !== undefined && r.progress !== null
              ? progressLine(r.progress, 16)
              : 'starting'
            : r.result !== undefined && r.result !== null
              ? `${r.result.counts.done} done, ${r.result.counts.failed} failed, ${r.result.counts.skipped} skipped${r.result.failedServers.length > 0 ? ` (failed: ${r.result.failedServers.join(', ')})` : ''}`
              : '',
          r.lastUpdatedTime ?? '',
        ]);
      out(table(rows));
      return EXIT.ok;
    }
    case 'posture': {
      need(0, 'no arguments');
      const { body } = await call(target, 'GET', '/api/posture');
      out(JSON.stringify(body, null, o.json ? undefined : 2));
      return EXIT.ok;
    }
    case 'plan': {
      need(2, '<vault> <key>');
      const { body } = await call(target, 'GET', `/api/rotations/${seg(vault)}/${seg(key)}/plan`);
      if (o.json) return (out(JSON.stringify(body)), EXIT.ok);
      const plan = body as {
        targetVersion?: string;
        preflight?: { passed: boolean; summary: string };
        servers: {
          serverName: string;
          action: string;
          ring: string;
          slots: { slot: string; decision: string; reason: string }[];
        }[];
        unplannable: { serverName: string; reason: string }[];
        summary: Record<string, number>;
      };
      out(`Plan for ${vault}/${key} → ${plan.targetVersion ?? '(no version)'} (dry run, nothing changed)`);
      if (plan.preflight !== undefined && !plan.preflight.passed)
        out(`Preflight FAILS: ${plan.preflight.summary}`);
      const rows = [['server', 'ring', 'action', 'slot', 'decision', 'reason']];
      for (const s of plan.servers)
        for (const x of s.slots) rows.push([s.serverName, s.ring, s.action, x.slot, x.decision, x.reason]);
      for (const u of plan.unplannable) rows.push([u.serverName, '-', 'skip', '-', 'unplannable', u.reason]);
      out(table(rows));
      out(
        Object.entries(plan.summary)
          .map(([k, v]) => `${v} ${k}`)
          .join(', ') + ' (PATCH bodies: --json)',
      );
      return plan.preflight?.passed === false ? EXIT.failures : EXIT.ok;
    }
    case 'rotate': {
      need(2, '<vault> <key>');
      const { body } = await call(target, 'POST', `/api/rotations/${seg(vault)}/${seg(key)}`, {
        ...(o.reason !== undefined ? { body: { reason: o.reason } } : {}),
      });
      const started = body as { kind: string; instanceId: string };
      if (!o.wait)
        return (out(o.json ? JSON.stringify(body) : `${started.kind}: ${started.instanceId}`), EXIT.ok);
      if (!o.json) err(`${started.kind}: ${started.instanceId}`);
      return waitForRotation(target, vault, key, o, out, err);
    }
    case 'retry': {
      need(3, '<vault> <key> <server>');
      const { body } = await call(
        target,
        'POST',
        `/api/rotations/${seg(vault)}/${seg(key)}/servers/${seg(server)}/retry`,
      );
      const started = body as { kind: string; instanceId: string };
      if (!o.wait)
        return (
          out(o.json ? JSON.stringify(body) : `retry of ${server} ${started.kind}: ${started.instanceId}`),
          EXIT.ok
        );
      if (!o.json) err(`retry of ${server} ${started.kind}: ${started.instanceId}`);
      return waitForRotation(target, vault, key, o, out, err);
    }
    case 'replay': {
      if (args.length === 0) throw new CliError(`replay takes <file>... or -\n\n${USAGE}`, EXIT.usage);
      let rejected = 0;
      const all: unknown[] = [];
      for (const file of args) {
        let content: string;
        try {
          content = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
        } catch (e) {
          throw new CliError(
            `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`,
            EXIT.usage,
          );
        }
        const { body } = await call(
          target,
          'POST',
          `/api/events/replay?source=${seg(file === '-' ? 'stdin' : basename(file))}`,
          {
            raw: content,
          },
        );
        const r = body as {
          source: string;
          events: { eventId?: string; outcome: { kind: string; code?: string; reason?: string } }[];
        };
        all.push(r);
        for (const e of r.events) {
          if (e.outcome.kind === 'rejected') rejected++;
          if (!o.json)
            out(
              `${file}: ${e.eventId ?? '(no id)'} ${e.outcome.kind}${e.outcome.kind === 'rejected' ? ` ${e.outcome.code ?? ''}: ${e.outcome.reason ?? ''}` : ''}`,
            );
        }
      }
      if (o.json) out(JSON.stringify(all));
      return rejected > 0 ? EXIT.failures : EXIT.ok;
    }
    default: {
      need(0, 'no arguments');
      const { body } = await call(target, 'POST', '/api/sweep');
      if (o.json) return (out(JSON.stringify(body)), EXIT.ok);
      const r = body as {
        keysChecked: number;
        requested: { key: string; why: string; outcome: string }[];
        errors: string[];
      };
      out(`Sweep: ${r.keysChecked} key(s) checked, ${r.requested.length} rotation(s) requested`);
      for (const q of r.requested) out(`  ${q.key}: ${q.outcome} (${q.why})`);
      for (const e of r.errors) out(`  unreadable: ${e}`);
      return r.errors.length > 0 ? EXIT.failures : EXIT.ok;
    }
  }
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
