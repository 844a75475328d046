type EntityFunction = (
  trigger: unknown,
  context: unknown,
) => Promise<{
  entityExists: boolean;
  entityState?: string;
  results: { isError: boolean; result?: string }[];
}>;
// The library's own test helper: the handler wrapped exactly as df.app.entity wraps it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const testing = require('durable-functions/lib/src/util/testingUtils') as {
  createEntityFunction: (fn: unknown) => EntityFunction;
  DummyEntityContext: new (name: string, invocationId: string, log: () => void) => object;
};
const { createEntityFunction, DummyEntityContext } = testing;

export interface EntityOperation {
  readonly name: string;
  readonly input?: unknown;
  readonly signal?: boolean;
}

/**
 * One batch of operations through an entity handler, as the host hands it: state in, whether the
 * entity still exists, its state and the results out (each result's JSON parsed).
 */
export async function runEntityBatch<S>(
  handler: unknown,
  self: { readonly name: string; readonly key: string },
  state: S | undefined,
  operations: readonly EntityOperation[],
): Promise<{ exists: boolean; state: S | undefined; results: { isError: boolean; value: unknown }[] }> {
  const entity = createEntityFunction(handler);
  const out = await entity(
    {
      self,
      exists: state !== undefined,
      state: state === undefined ? undefined : JSON.stringify(state),
      batch: operations.map((o, i) => ({
        name: o.name,
        signal: o.signal ?? false,
        input: o.input === undefined ? undefined : JSON.stringify(o.input),
        id: `request-${i}`,
      })),
    },
    new DummyEntityContext(self.name, 'invocation-1', () => undefined),
  );
  return {
    exists: out.entityExists,
    state: out.entityState === undefined ? undefined : (JSON.parse(out.entityState) as S),
    results: out.results.map((r) => ({
      isError: r.isError,
      value: r.result === undefined ? undefined : (JSON.parse(r.result) as unknown),
    })),
  };
}
