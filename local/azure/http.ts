import type { IncomingMessage, ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';

export interface Request {
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
  /** Absolute URL as the client addressed it (Host header kept), for nextLink and operation URLs. */
  readonly url: URL;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly reply: Reply,
  ) {
    super(`HTTP ${status}`);
  }
}

export async function readRequest(req: IncomingMessage): Promise<Request> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  let body = Buffer.concat(chunks);
  if (/gzip/i.test(req.headers['content-encoding'] ?? '')) body = gunzipSync(body);
  const host = (req.headers.host ?? 'localhost').replace(/:\d+$/, '').toLowerCase();
  const url = new URL(req.url ?? '/', `https://${req.headers.host ?? 'localhost'}`);
  return {
    method: (req.method ?? 'GET').toUpperCase(),
    host,
    path: url.pathname,
    query: url.searchParams,
    headers: req.headers,
    body,
    url,
  };
}

export function jsonBody(req: Request): unknown {
  if (req.body.length === 0) return undefined;
  try {
    return JSON.parse(req.body.toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, {
      status: 400,
      body: { error: { code: 'BadRequest', message: 'The request body is not valid JSON.' } },
    });
  }
}

export function send(res: ServerResponse, reply: Reply): void {
  const headers: Record<string, string> = { ...reply.headers };
  let payload: string | undefined;
  if (reply.body !== undefined) {
    payload = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
    headers['content-type'] ??= 'application/json; charset=utf-8';
  }
  headers['x-ms-request-id'] ??= crypto.randomUUID();
  res.writeHead(reply.status, headers);
  res.end(payload);
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
