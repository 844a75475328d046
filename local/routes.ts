import type { RegisteredFunction } from './host/core';

/**
 * The routes a local runtime serves, for people: printed before the `READY` line (which stays one line
 * of JSON for scripts). HTTP triggers with their methods and URLs (keys shown once, not in every URL),
 * then the host's own endpoints and the stand-ins' admin API.
 */
export function routeList(options: {
  readonly hostUrl: string;
  readonly routePrefix: string;
  readonly functions: Iterable<RegisteredFunction>;
  readonly functionKey: string;
  readonly azureUrl?: string | undefined;
}): string {
  const rows: [string, string, string][] = [];
  const http = [...options.functions].filter((f) => f.trigger.type === 'httpTrigger');
  for (const f of http) {
    const route = typeof f.trigger['route'] === 'string' ? f.trigger['route'] : f.metadata.name;
    const methods = (f.trigger['methods'] as string[] | undefined)?.map((m) => m.toUpperCase()) ?? ['ANY'];
    const level =
      typeof f.trigger['authLevel'] === 'string' ? f.trigger['authLevel'].toLowerCase() : 'function';
    const auth = level === 'anonymous' ? '' : level === 'admin' ? ' (master key)' : '';
    rows.push([
      methods.join(','),
      `${options.hostUrl}/${options.routePrefix}/${route}`,
      `${f.metadata.name}${auth}`,
    ]);
  }
  rows.sort((a, b) => a[1].localeCompare(b[1]) || a[0].localeCompare(b[0]));
  if (http.some((f) => f.trigger['route'] === 'status'))
    rows.push([
      'GET',
      `${options.hostUrl}/${options.routePrefix}/status?code=${options.functionKey}`,
      'the status page in a browser (key included)',
    ]);
  rows.push([
    'ANY',
    `${options.hostUrl}/runtime/webhooks/durabletask/instances`,
    'Durable HTTP API (durable task system key)',
  ]);
  if (options.azureUrl !== undefined)
    rows.push(['GET', `${options.azureUrl}/admin`, 'local Azure admin API (index of its routes)']);
  const width = (i: 0 | 1) => Math.max(...rows.map((r) => r[i].length));
  const lines = rows.map(([m, u, what]) => `  ${m.padEnd(width(0))}  ${u.padEnd(width(1))}  ${what}`);
  return [
    `Routes (the HTTP triggers take the function key ${options.functionKey} as ?code= or the x-functions-key header):`,
    ...lines,
  ].join('\n');
}
