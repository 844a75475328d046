import Module from 'node:module';

/**
 * The worker contract that `@azure/functions` talks to (`@azure/functions-core`), as the Azure
 * Functions Node.js worker provides it. The local host installs this module before it loads the app,
 * so `functions/` registers exactly as it does in Azure, without a line changed.
 */
export interface RpcBinding {
  readonly type: string;
  readonly direction: 'in' | 'out';
  readonly [key: string]: unknown;
}

export interface RpcFunctionMetadata {
  readonly name: string;
  readonly bindings: Readonly<Record<string, RpcBinding>>;
  readonly retryOptions?: unknown;
}

export type CoreHandler = (...args: unknown[]) => unknown;

export interface RegisteredFunction {
  readonly metadata: RpcFunctionMetadata;
  readonly handler: CoreHandler;
  /** The binding whose type ends in `Trigger`. */
  readonly triggerName: string;
  readonly trigger: RpcBinding;
}

/** What the programming model (`@azure/functions`' ProgrammingModel) gives the worker per invocation. */
export interface InvocationModel {
  getArguments(): Promise<{ context: unknown; inputs: unknown[] }>;
  invokeFunction(context: unknown, inputs: unknown[], handler: CoreHandler): Promise<unknown>;
  getResponse(
    context: unknown,
    result: unknown,
  ): Promise<{ returnValue?: TypedData; outputData?: { name: string; data: TypedData }[] }>;
}

export interface ProgrammingModel {
  readonly name: string;
  readonly version: string;
  getInvocationModel(coreContext: unknown): InvocationModel;
  getCapabilities?(capabilities: Record<string, string>): Promise<Record<string, string>>;
}

export type TypedData = Record<string, unknown>;

export type LogSink = (level: string, category: string, message: string) => void;

export class FunctionRegistry {
  readonly functions = new Map<string, RegisteredFunction>();
  programmingModel: ProgrammingModel | undefined;
  log: LogSink = (level, category, message) =>
    console.log(`[${level}] ${category === 'system' ? '[worker] ' : ''}${message}`);

  /** The `@azure/functions-core` module object. */
  coreModule(): Record<string, unknown> {
    return {
      version: '3.10.1',
      hostVersion: '4.1040.0',
      registerFunction: (metadata: RpcFunctionMetadata, handler: CoreHandler) => {
        const triggerEntry = Object.entries(metadata.bindings).find(([, b]) => /trigger$/i.test(b.type));
        if (triggerEntry === undefined) throw new Error(`function ${metadata.name} has no trigger binding`);
        if (this.functions.has(metadata.name.toLowerCase()))
          throw new Error(`function ${metadata.name} is registered twice`);
        this.functions.set(metadata.name.toLowerCase(), {
          metadata,
          handler,
          triggerName: triggerEntry[0],
          trigger: triggerEntry[1],
        });
        return { dispose: () => this.functions.delete(metadata.name.toLowerCase()) };
      },
      setProgrammingModel: (model: ProgrammingModel) => {
        this.programmingModel = model;
      },
      getProgrammingModel: () => this.programmingModel,
      registerHook: () => ({ dispose: () => undefined }),
      log: (level: string, category: string, message: string) => this.log(level, category, message),
      Disposable: class {
        constructor(private readonly fn: () => void) {}
        dispose(): void {
          this.fn();
        }
      },
    };
  }

  get(name: string): RegisteredFunction | undefined {
    return this.functions.get(name.toLowerCase());
  }
}

let installed: FunctionRegistry | undefined;

/**
 * Makes `require('@azure/functions-core')` resolve to this registry, the way the worker injects it.
 * One registry per process, like one worker per process.
 */
export function installCore(registry: FunctionRegistry): void {
  if (installed !== undefined) throw new Error('@azure/functions-core is already installed in this process');
  installed = registry;
  const core = registry.coreModule();
  const mod = Module as unknown as { _load: (request: string, parent: unknown, isMain: boolean) => unknown };
  const original = mod._load.bind(Module);
  mod._load = (request, parent, isMain) =>
    request === '@azure/functions-core' ? core : original(request, parent, isMain);
}
