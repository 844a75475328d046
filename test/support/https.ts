import { request, type Agent } from 'node:https';

export interface JsonResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON, the text when it is not JSON, undefined when empty. */
  readonly body: unknown;
}

/** One HTTPS request with a JSON (or text) body; the answer's body parsed when it is JSON. */
export function httpsJson(
  url: string,
  options: {
    method?: string;
    body?: unknown;
    agent?: Agent;
    ca?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<JsonResponse> {
  const payload =
    options.body === undefined
      ? ''
      : typeof options.body === 'string'
        ? options.body
        : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        ...(options.agent !== undefined ? { agent: options.agent } : {}),
        ...(options.ca !== undefined ? { ca: options.ca } : {}),
        headers: {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(payload)),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text === '' ? undefined : text;
          try {
            if (text !== '') body = JSON.parse(text) as unknown;
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
