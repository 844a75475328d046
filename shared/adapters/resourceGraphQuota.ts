import type { TokenCredential } from '@azure/core-auth';
import { ResourceGraphClient, type ResourceGraphClientOptionalParams } from '@azure/arm-resourcegraph';
import type { PipelinePolicy, PipelineRequest, PipelineResponse } from '@azure/core-rest-pipeline';

type AbortSignalLike = PipelineRequest['abortSignal'];

/**
 * Honours Resource Graph's per-principal quota (Learn, "Guidance for throttled requests in Azure
 * Resource Graph": 15 queries per 5 s by default; every response carries `x-ms-user-quota-remaining`
 * and `x-ms-user-quota-resets-after` as hh:mm:ss; 429 past the quota). The SDK's own retry does not:
 * core-rest-pipeline's throttling strategy waits only on `Retry-After` / `retry-after-ms` /
 * `x-ms-retry-after-ms` (@typespec/ts-http-runtime retryStrategies/throttlingRetryStrategy), which the
 * quota headers are not. So this policy waits out the window once the quota is spent, before the next
 * query rather than after a refusal, and retries a refused query (a read: safe to repeat) after the
 * window resets, a bounded number of times.
 */
export interface ResourceGraphQuotaOptions {
  /** Retries of a query refused with 429. Default 3. */
  readonly maxRetries?: number;
  /** Waits when the quota headers say nothing. Default 5000 ms (the documented window). */
  readonly defaultWaitMs?: number;
  readonly sleep?: (ms: number, signal: AbortSignalLike) => Promise<void>;
  readonly now?: () => number;
}

/** `hh:mm:ss` (also `d.hh:mm:ss` and fractional seconds) to milliseconds; undefined when unreadable. */
export function parseResetsAfter(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$/.exec(value.trim());
  if (m === null) return undefined;
  const [, d, h, min, s] = m;
  return ((Number(d ?? 0) * 24 + Number(h)) * 3600 + Number(min) * 60) * 1000 + Math.ceil(Number(s) * 1000);
}

function sleepFor(ms: number, signal: AbortSignalLike): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(new Error('The operation was aborted.'));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Error('The operation was aborted.'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function resourceGraphQuotaPolicy(options: ResourceGraphQuotaOptions = {}): PipelinePolicy {
  const maxRetries = options.maxRetries ?? 3;
  const defaultWaitMs = options.defaultWaitMs ?? 5000;
  const sleep = options.sleep ?? sleepFor;
  const now = options.now ?? Date.now;
  /** Until when the quota is spent (shared by every query this client sends: the quota is per principal). */
  let blockedUntil = 0;

  const note = (response: PipelineResponse): number | undefined => {
    const resetsMs = parseResetsAfter(response.headers.get('x-ms-user-quota-resets-after'));
    const remaining = Number(response.headers.get('x-ms-user-quota-remaining') ?? NaN);
    if (response.status === 429 || remaining === 0) {
      const wait = resetsMs ?? defaultWaitMs;
      blockedUntil = Math.max(blockedUntil, now() + wait);
      return wait;
    }
    return undefined;
  };

  return {
    name: 'resourceGraphQuotaPolicy',
    async sendRequest(request, next) {
      for (let attempt = 0; ; attempt++) {
        const wait = blockedUntil - now();
        if (wait > 0) await sleep(wait, request.abortSignal);
        const response = await next(request);
        note(response);
        if (response.status !== 429 || attempt >= maxRetries) return response;
      }
    },
  };
}

/**
 * A Resource Graph client whose pipeline honours the per-principal quota (this file's policy), not the
 * SDK's own retry of a 429: every adapter that queries Resource Graph builds its client here.
 */
export function quotaAwareResourceGraphClient(
  credential: TokenCredential,
  clientOptions: ResourceGraphClientOptionalParams | undefined,
): ResourceGraphClient {
  return new ResourceGraphClient(credential, {
    ...clientOptions,
    additionalPolicies: [
      ...(clientOptions?.additionalPolicies ?? []),
      { policy: resourceGraphQuotaPolicy(), position: 'perCall' },
    ],
  });
}
