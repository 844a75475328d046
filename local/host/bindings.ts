import type { FunctionRegistry } from './core';

/**
 * The bindings the local host serves. Anything else (a Blob, Queue, Service Bus, Twilio, SendGrid
 * output in `extraOutputs`, another trigger) would be silently dropped or never fire, so the app is
 * refused at load with one line naming the function and the binding.
 */
const SUPPORTED_TRIGGERS = new Set([
  'httpTrigger',
  'timerTrigger',
  'eventGridTrigger',
  'orchestrationTrigger',
  'activityTrigger',
  // Durable entities (durable/entities*.ts).
  'entityTrigger',
]);

export class UnsupportedBindingError extends Error {}

/** One line per unsupported binding; empty when the host can serve every binding of every function. */
export function unsupportedBindings(registry: FunctionRegistry): string[] {
  const problems: string[] = [];
  for (const fn of registry.functions.values()) {
    const name = fn.metadata.name;
    for (const [bindingName, b] of Object.entries(fn.metadata.bindings)) {
      const what = `function '${name}': binding '${bindingName}' (type ${b.type}, direction ${b.direction})`;
      if (/trigger$/i.test(b.type)) {
        if (!SUPPORTED_TRIGGERS.has(b.type)) problems.push(`${what}: this trigger is not supported`);
      } else if (b.direction === 'in') {
        if (b.type !== 'durableClient') problems.push(`${what}: only the durableClient input is supported`);
      } else if (!(b.type === 'http' && fn.trigger.type === 'httpTrigger'))
        problems.push(
          `${what}: output bindings are not supported (only the HTTP response of an HTTP trigger); its output would be lost`,
        );
    }
  }
  return problems;
}

/** Refuses the app when any binding is unsupported; the message is one line. */
export function assertSupportedBindings(registry: FunctionRegistry): void {
  const problems = unsupportedBindings(registry);
  if (problems.length > 0)
    throw new UnsupportedBindingError(`the local host cannot run this app: ${problems.join('; ')}`);
}
