import { Agent, type AgentOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import { connect, type ConnectionOptions } from 'node:tls';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';

/**
 * THE seam between realistic Azure identifiers and this machine. Clients keep talking to
 * `https://<vault>.vault.azure.net` and `https://management.azure.com`; only the TCP connection is
 * redirected to the stand-ins' loopback port. TLS still verifies the name (SNI and certificate) against
 * the local CA, and the Host header still names the Azure host, so nothing else needs to know.
 */
const REDIRECTED = [
  /\.vault\.azure\.net$/i,
  /\.managedhsm\.azure\.net$/i,
  /^management\.azure\.com$/i,
  /^login\.microsoftonline\.com$/i,
  /^events\.pagerduty\.com$/i,
];

export function isRedirectedHost(host: string): boolean {
  return REDIRECTED.some((r) => r.test(host));
}

export interface LoopbackTarget {
  readonly port: number;
  readonly caCertPem: string;
}

class LoopbackAgent extends Agent {
  constructor(
    private readonly target: LoopbackTarget,
    options: AgentOptions,
  ) {
    super({ ...options, ca: target.caCertPem, keepAlive: true });
  }

  override createConnection(
    options: ConnectionOptions,
    callback?: (err: Error | null, socket: Duplex) => void,
  ): Duplex {
    const host = options.host ?? 'localhost';
    if (host === '127.0.0.1' || host === 'localhost') {
      // The stand-ins' own loopback URL (Application Insights ingestion, PagerDuty, webhooks).
      const socket = connect({ ...options, host: '127.0.0.1', ca: this.target.caCertPem });
      callback?.(null, socket);
      return socket;
    }
    if (!isRedirectedHost(host)) {
      // Only the emulated Azure hosts are redirected; anything else fails here rather than leaking out.
      throw new Error(`local seam: ${host} is not an emulated Azure host`);
    }
    const socket = connect({
      ...options,
      host: '127.0.0.1',
      port: this.target.port,
      servername: host,
      ca: this.target.caCertPem,
    });
    callback?.(null, socket);
    return socket;
  }
}

export function createLoopbackAgent(target: LoopbackTarget): Agent {
  return new LoopbackAgent(target, {});
}

/** A pipeline policy that sends every request of an Azure SDK client through the loopback agent. */
export function loopbackPolicy(target: LoopbackTarget): PipelinePolicy {
  const agent = createLoopbackAgent(target);
  return {
    name: 'localAzureLoopback',
    sendRequest: (request, next) => {
      request.agent = agent;
      return next(request);
    },
  };
}

/** Client options for any Azure SDK client built on core-rest-pipeline. */
export function loopbackClientOptions(target: LoopbackTarget): {
  additionalPolicies: { policy: PipelinePolicy; position: 'perCall' }[];
} {
  return { additionalPolicies: [{ policy: loopbackPolicy(target), position: 'perCall' }] };
}
