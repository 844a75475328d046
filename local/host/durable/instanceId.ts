/**
 * The instance ids the Durable Task Framework accepts (Microsoft Learn, "Instance management with
 * Durable Functions": at most 100 characters; not `/`, `\`, `#`, `?` or control characters; not
 * starting with `@`, which marks entities). The local host refuses the rest as Azure does, so an id
 * builder that overflows fails here, not on the first deployment. Deliberately its own code: the stand-in
 * shares no rules with the product it checks.
 */
export function invalidInstanceId(id: string): string | undefined {
  if (id.length === 0) return 'an instance id must not be empty';
  if (id.length > 100) return `an instance id must be at most 100 characters (got ${id.length})`;
  for (const ch of id) {
    const code = ch.charCodeAt(0);
    if (ch === '/' || ch === '\\' || ch === '#' || ch === '?')
      return `an instance id must not contain '${ch}'`;
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f))
      return 'an instance id must not contain control characters';
  }
  if (id.startsWith('@')) return "an orchestration instance id must not start with '@'";
  return undefined;
}

export class InvalidInstanceIdError extends Error {}
