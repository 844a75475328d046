import { request as httpsRequest } from 'node:https';

export interface PostOptions {
  /** Extra CA certificates to trust (the local stand-ins' CA); the system store otherwise. */
  readonly ca?: string;
  readonly timeoutMs?: number;
  readonly headers?: Record<string, string>;
}

export interface PostResult {
  readonly status: number;
  readonly body: string;
}

/** POSTs a body over HTTPS. Rejects on network errors; any HTTP status resolves. */
export function httpsPost(url: string, body: string, options: PostOptions = {}): Promise<PostResult> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          ...options.headers,
        },
        timeout: options.timeoutMs ?? 10_000,
        ...(options.ca !== undefined ? { ca: options.ca } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Sends with retries on throttling, 5xx and network errors (exponential backoff); a 4xx other than 429
 * is final. Returns the last status or a reason; errors never carry the URL (it can be a secret).
 */
export async function postWithRetry(
  url: string,
  body: string,
  options: PostOptions & { attempts?: number; baseDelayMs?: number },
): Promise<{ ok: true } | { ok: false; reason: string }> {
  const attempts = options.attempts ?? 3;
  let reason = 'not sent';
  for (let i = 0; i < attempts; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, (options.baseDelayMs ?? 500) * 2 ** (i - 1)));
    try {
      const res = await httpsPost(url, body, options);
      if (res.status >= 200 && res.status < 300) return { ok: true };
      reason = `HTTP ${res.status}`;
      if (res.status < 500 && res.status !== 429 && res.status !== 408) return { ok: false, reason };
    } catch (e) {
      reason = e instanceof Error ? e.message.replace(/https?:\/\/\S+/g, '<url>') : 'network error';
    }
  }
  return { ok: false, reason: `${reason} after ${attempts} attempts` };
}
