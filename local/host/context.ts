import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { FunctionRegistry, RegisteredFunction, TypedData } from './core';
import type { DurableEngine } from './durable/engine';
import { invokeFunction, typed, type InputData, type InvocationResult } from './invoke';

export interface HostKeys {
  readonly master: string;
  readonly functionKey: string;
  readonly eventGridSystemKey: string;
  readonly durableTaskSystemKey: string;
}

/** The Durable Functions management URLs of one instance (the `createCheckStatusResponse` payload). */
export interface ManagementUrls {
  readonly id: string;
  readonly statusQueryGetUri: string;
  readonly sendEventPostUri: string;
  readonly terminatePostUri: string;
  readonly rewindPostUri: string;
  readonly purgeHistoryDeleteUri: string;
  readonly restartPostUri: string;
  readonly suspendPostUri: string;
  readonly resumePostUri: string;
}

/** The one context every part of the host (Durable API, Event Grid webhook, HTTP triggers, timers) works on. */
export interface HostContext {
  readonly registry: FunctionRegistry;
  readonly engine: DurableEngine;
  readonly keys: HostKeys;
  readonly hubName: string;
  readonly log: (line: string) => void;
  /** The host's own URL; known once it listens. */
  readonly baseUrl: () => string;
  readonly managementUrls: (id: string) => ManagementUrls;
  /** Invokes a function with its trigger input (and the durable client binding where it asks for one). */
  readonly run: (
    fn: RegisteredFunction,
    trigger: TypedData,
    triggerMetadata?: Record<string, TypedData>,
    /** No Executing/Executed lines unless it fails (reads polled by a status page or the CLI). */
    quiet?: boolean,
  ) => Promise<InvocationResult>;
  /** Does the request carry one of these keys (`code` query or `x-functions-key`)? */
  readonly hasKey: (req: IncomingMessage, url: URL, allowed: string[]) => boolean;
}

export function createHostContext(parts: {
  readonly registry: FunctionRegistry;
  readonly engine: DurableEngine;
  readonly keys: HostKeys;
  readonly hubName: string;
  readonly log: (line: string) => void;
}): HostContext & { readonly setBaseUrl: (url: string) => void } {
  const { registry, keys, hubName, log } = parts;
  let baseUrl = '';
  const clientBinding = () => ({
    taskHubName: hubName,
    creationUrls: {
      createNewInstancePostUri: `${baseUrl}/runtime/webhooks/durabletask/orchestrators/{functionName}[/{instanceId}]?code=${keys.durableTaskSystemKey}`,
      createAndWaitOnNewInstancePostUri: `${baseUrl}/runtime/webhooks/durabletask/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&code=${keys.durableTaskSystemKey}`,
    },
    managementUrls: managementUrls('INSTANCEID'),
    baseUrl: `${baseUrl}/runtime/webhooks/durabletask`,
    requiredQueryStringParameters: `code=${keys.durableTaskSystemKey}`,
    // Like the real extension: the client talks to a loopback RPC endpoint that needs no key.
    rpcBaseUrl: `${baseUrl}/durabletask/`,
  });
  const managementUrls = (id: string): ManagementUrls => {
    const base = `${baseUrl}/runtime/webhooks/durabletask/instances/${id}`;
    const q = `taskHub=${hubName}&connection=Storage&code=${keys.durableTaskSystemKey}`;
    return {
      id,
      statusQueryGetUri: `${base}?${q}`,
      sendEventPostUri: `${base}/raiseEvent/{eventName}?${q}`,
      terminatePostUri: `${base}/terminate?reason={text}&${q}`,
      rewindPostUri: `${base}/rewind?reason={text}&${q}`,
      purgeHistoryDeleteUri: `${base}?${q}`,
      restartPostUri: `${base}/restart?${q}`,
      suspendPostUri: `${base}/suspend?reason={text}&${q}`,
      resumePostUri: `${base}/resume?reason={text}&${q}`,
    };
  };

  /** Extra inputs the host supplies: the durable client binding. */
  const extraInputs = (fn: RegisteredFunction): InputData[] =>
    Object.entries(fn.metadata.bindings)
      .filter(([, b]) => b.direction === 'in' && b.type === 'durableClient')
      .map(([name]) => ({ name, data: typed(JSON.stringify(clientBinding())) }));

  const run = async (
    fn: RegisteredFunction,
    trigger: TypedData,
    triggerMetadata: Record<string, TypedData> = {},
    quiet = false,
  ) => {
    const started = Date.now();
    const id = randomUUID();
    // Quiet (reads: a status page or CLI polling): no Executing/Executed lines unless it fails.
    if (!quiet) log(`Executing 'Functions.${fn.metadata.name}' (Id=${id})`);
    try {
      const result = await invokeFunction(
        registry,
        fn,
        { inputData: [{ name: fn.triggerName, data: trigger }, ...extraInputs(fn)], triggerMetadata },
        (level, message) =>
          log(`[${fn.metadata.name}] ${level === 'information' ? '' : `${level}: `}${message}`),
      );
      if (!quiet)
        log(
          `Executed 'Functions.${fn.metadata.name}' (Succeeded, Id=${id}, Duration=${Date.now() - started}ms)`,
        );
      return result;
    } catch (e) {
      log(
        `Executed 'Functions.${fn.metadata.name}' (Failed, Id=${id}, Duration=${Date.now() - started}ms): ${e instanceof Error ? e.message : String(e)}`,
      );
      throw e;
    }
  };

  const hasKey = (req: IncomingMessage, url: URL, allowed: string[]) => {
    const given = url.searchParams.get('code') ?? (req.headers['x-functions-key'] as string | undefined);
    return given !== undefined && allowed.includes(given);
  };

  return {
    ...parts,
    baseUrl: () => baseUrl,
    setBaseUrl: (url: string) => {
      baseUrl = url;
    },
    managementUrls,
    run,
    hasKey,
  };
}

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Writes the whole answer; returns true so handlers can `return send(...)`. */
export function send(
  res: ServerResponse,
  status: number,
  body?: unknown,
  headers: Record<string, string> = {},
): true {
  if (body === undefined) {
    res.writeHead(status, headers).end();
    return true;
  }
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res
    .writeHead(status, {
      'content-type':
        typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
      ...headers,
    })
    .end(text);
  return true;
}
