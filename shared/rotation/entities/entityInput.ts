/**
 * An entity operation's input as an object, or the entity's own named error (its caller gets it back
 * with the error's code): both entities of the rotation read their inputs field by field from here
 * and check the values in their pure models.
 */
export function objectInput(
  input: unknown,
  operation: string,
  refuse: (message: string) => Error,
): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw refuse(`${operation} needs an object input`);
  return input as Record<string, unknown>;
}
