import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { request, type Agent } from 'node:https';

/** The fleet benchmark's processes: starting and stopping them, their CPU and memory, HTTPS to them. */

/** CPU (user + system) and peak RSS of a live process, from /proc (Linux); undefined elsewhere. */
export function procStats(pid: number | undefined): { cpuMs: number; peakRssMb: number } | undefined {
  if (pid === undefined || !existsSync(`/proc/${pid}/stat`)) return undefined;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat (utime, stime) in clock ticks (USER_HZ, 100 on Linux).
  const ticks = Number(fields[11]) + Number(fields[12]);
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return { cpuMs: ticks * 10, peakRssMb: Number(hwm ?? 0) / 1024 };
}

export function startProcess(
  args: string[],
  env: Record<string, string | undefined>,
  name: string,
): Promise<{ child: ChildProcess; ready: Record<string, unknown>; logs: () => string }> {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => {
    // Only the head of the log is kept: a fleet run logs per server.
    if (output.length < 200_000) output += c.toString('utf8');
  });
  child.stderr.on('data', (c: Buffer) => {
    if (output.length < 200_000) output += c.toString('utf8');
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${output}`)), 120_000);
    const check = () => {
      const line = output.split('\n').find((l) => l.startsWith('READY '));
      if (line === undefined) return;
      clearTimeout(timer);
      child.stdout.off('data', check);
      resolve({ child, ready: JSON.parse(line.slice(6)) as Record<string, unknown>, logs: () => output });
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code ?? 'a signal'}:\n${output}`));
    });
  });
}

export function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

export function httpsJson(url: string, agent: Agent, method = 'GET', body?: unknown): Promise<unknown> {
  const payload = body === undefined ? '' : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 500) >= 300)
            reject(new Error(`${method} ${url}: HTTP ${res.statusCode ?? '?'} ${text}`));
          else resolve(text === '' ? undefined : JSON.parse(text));
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
