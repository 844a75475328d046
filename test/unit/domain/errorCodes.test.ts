import { ERROR_CODES, isErrorCode, type ErrorCode } from '../../../shared/domain/errorCodes';
import { InvalidInputError, RotatorError, classifyError } from '../../../shared/domain/errors';
import { OperatorDependencyError } from '../../../shared/triggers/operator';

describe('error codes: one closed list', () => {
  it('lists every code once', () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
  });

  it('does not let an error class invent a code outside the list (a compile error, checked here by ts-jest)', () => {
    class Invented extends RotatorError {
      // @ts-expect-error 'SomethingNew' is not an ErrorCode
      readonly code = 'SomethingNew';
      readonly retryable = false;
    }
    // @ts-expect-error nor an InvalidInputError given a code outside the list
    const invented = new InvalidInputError('NotInTheList', 'x');
    expect(isErrorCode(new Invented('x').code)).toBe(false);
    expect(isErrorCode(invented.code)).toBe(false);
  });

  it.each([
    ['a named error', new OperatorDependencyError('Key Vault could not answer', true)],
    ['a bug', new TypeError('x is undefined')],
  ])('classifies %s with a listed code', (_, e) => {
    const code: ErrorCode = classifyError(e).code;
    expect(isErrorCode(code)).toBe(true);
  });
});
