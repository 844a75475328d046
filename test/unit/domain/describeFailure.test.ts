import { describeFailure } from '../../../shared/domain/diagnosis';
import { InvalidInputError } from '../../../shared/domain/errors';
import { ForbiddenError, NotFoundError, ThrottledError } from '../../../shared/ports/errors';

describe('describeFailure: what a report says of a failed call (never its message)', () => {
  it.each<[string, unknown, string]>([
    [
      "Azure's code when the call carried one",
      new ForbiddenError('GET https://x/?sig=secret', 'ForbiddenByConnection', 403),
      'ForbiddenByConnection',
    ],
    [
      "the named error's code when Azure sent none",
      new NotFoundError('no such key', undefined, 404),
      'NotFound',
    ],
    ['a throttled call', new ThrottledError('slow down', undefined, 429, 7), 'Throttled'],
    [
      'a named error of ours that is no Azure call: its name',
      new InvalidInputError('InvalidKeyIdentifier', 'bad'),
      'InvalidInputError',
    ],
    ['any other error: its name', new TypeError('x is undefined'), 'TypeError'],
    ['something thrown that is no error', 'boom', 'error'],
  ])('%s', (_what, e, text) => {
    expect(describeFailure(e)).toBe(text);
  });
});
