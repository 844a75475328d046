import type { TokenCredential } from '@azure/core-auth';
import type { PipelinePolicy, PipelineRetryOptions } from '@azure/core-rest-pipeline';

/**
 * How the adapters reach Azure when not the default (managed identity, public endpoints). In Azure
 * nothing sets it. The local runtime sets it once, before it loads the app, so the unchanged
 * `functions/` talk to the HTTPS stand-ins with a local token credential: the one place the product
 * lets the offline runtime in (docs/architecture.md: "the redirection to loopback lives in one seam").
 */
export interface AzureTransport {
  readonly credential: TokenCredential;
  readonly clientOptions: {
    readonly additionalPolicies?: { policy: PipelinePolicy; position: 'perCall' | 'perRetry' }[];
    readonly retryOptions?: PipelineRetryOptions;
  };
  /**
   * The services' clock. Azure's is the wall clock; the local stand-ins keep a clock of their own that
   * tests move (near expiry, expiry), and the sweep and the status page must follow it.
   */
  readonly now?: () => Date;
}

let current: AzureTransport | undefined;

export function setAzureTransport(transport: AzureTransport | undefined): void {
  current = transport;
}

export function azureTransport(): AzureTransport | undefined {
  return current;
}
