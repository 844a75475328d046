import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const HOST_MAIN = join(ROOT, 'dist', 'local', 'host', 'main.js');
export const FIXTURE_APP = join(ROOT, 'test', 'fixtures', 'app');

export interface HostProcess {
  readonly url: string;
  readonly masterKey: string;
  readonly functionKey: string;
  readonly eventGridSystemKey: string;
  readonly durableTaskSystemKey: string;
  readonly child: ChildProcess;
  readonly dataDir: string;
  /** JSON lines the fixture app records (activity executions, events, ticks). */
  readonly outFile: string;
  logs(): string;
  records(kind?: string): { kind: string; value: unknown }[];
  /** SIGTERM and wait, or SIGKILL for a crash. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** What `npm run local` (local Azure + host) prints on its `READY <json>` line. */
export interface LocalReady {
  readonly port: number;
  readonly caCertPath: string;
  readonly tenantId: string;
  readonly loopback: string;
  readonly hostUrl: string;
  readonly functionKey: string;
  readonly masterKey: string;
  readonly durableTaskSystemKey: string;
  readonly eventGridSubscriptions: string[];
  readonly functions: { name: string; trigger: string }[];
}

/** The JSON of the `READY <json>` line the local runtime and host print once they serve, if printed yet. */
export function readyLine(output: string): unknown {
  const line = output.split('\n').find((l) => l.startsWith('READY '));
  return line === undefined ? undefined : JSON.parse(line.slice(6));
}

/**
 * The local Functions host as a separate process, exactly as `npm run local` runs it (the build in
 * dist/ is what runs: `npm test` builds first).
 */
export async function startHost(
  options: {
    dataDir?: string;
    outFile?: string;
    app?: string;
    args?: string[];
    env?: Record<string, string>;
  } = {},
): Promise<HostProcess> {
  if (!existsSync(HOST_MAIN)) throw new Error(`${HOST_MAIN} is missing: run npm run build first`);
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'host-'));
  const outFile = options.outFile ?? join(dataDir, 'out.jsonl');
  const args = [HOST_MAIN, '--app', options.app ?? FIXTURE_APP, '--data', dataDir, ...(options.args ?? [])];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, FIXTURE_OUT: outFile, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
  const ready = await new Promise<Record<string, string>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`host did not start:\n${output}`)), 20_000);
    const check = () => {
      const ready = readyLine(output);
      if (ready !== undefined) {
        clearTimeout(timer);
        resolve(ready as Record<string, string>);
      }
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`host exited with ${code ?? 'signal'}:\n${output}`));
    });
  });
  return {
    url: ready['hostUrl'] ?? '',
    masterKey: ready['masterKey'] ?? '',
    functionKey: ready['functionKey'] ?? '',
    eventGridSystemKey: ready['eventGridSystemKey'] ?? '',
    durableTaskSystemKey: ready['durableTaskSystemKey'] ?? '',
    child,
    dataDir,
    outFile,
    logs: () => output,
    records: (kind) =>
      (existsSync(outFile) ? readFileSync(outFile, 'utf8') : '')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { kind: string; value: unknown })
        .filter((r) => kind === undefined || r.kind === kind),
    stop: (signal = 'SIGTERM') =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          resolve();
          return;
        }
        child.once('exit', () => resolve());
        child.kill(signal);
      }),
  };
}

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The body parsed as JSON; the caller states what it expects. */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- a typed view of parsed JSON
  json<T = unknown>(): T;
}

export async function call(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- see Answer.json
  return { status: res.status, headers: res.headers, text, json: <T = unknown>() => JSON.parse(text) as T };
}
