import { compile } from 'jmespath';
import { didYouMean } from '../shared/domain/suggest';

/**
 * `--query` checked when the command line is parsed, before anything is sent: a write (`rotate`,
 * `retry`, `sweep`, `replay`) applies the query to the API's answer, so a query found bad only then
 * would exit 2 ("nothing sent") after the write was accepted.
 */

declare module 'jmespath' {
  /** The parser: jmespath.js (0.16) exports it beside `search`; @types/jmespath does not declare it. */
  export function compile(expression: string): unknown;
}

/** The functions of the JMESPath specification, which jmespath.js has and no other (https://jmespath.org/specification.html#built-in-functions). */
const FUNCTIONS: ReadonlySet<string> = new Set([
  'abs',
  'avg',
  'ceil',
  'contains',
  'ends_with',
  'floor',
  'join',
  'keys',
  'length',
  'map',
  'max',
  'max_by',
  'merge',
  'min',
  'min_by',
  'not_null',
  'reverse',
  'sort',
  'sort_by',
  'starts_with',
  'sum',
  'to_array',
  'to_number',
  'to_string',
  'type',
  'values',
]);

interface Node {
  readonly type?: unknown;
  readonly name?: unknown;
  readonly value?: unknown;
  readonly children?: unknown;
}

const isNode = (v: unknown): v is Node => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The function names the expression calls (jmespath.js finds an unknown one only when it evaluates it). */
function calledFunctions(node: unknown, into: string[] = []): string[] {
  if (!isNode(node)) return into;
  if (node.type === 'Function' && typeof node.name === 'string') into.push(node.name);
  if (Array.isArray(node.children)) for (const c of node.children) calledFunctions(c, into);
  // A literal's value is JSON data, not an expression: only a key-value pair's value is walked.
  if (node.type === 'KeyValuePair') calledFunctions(node.value, into);
  return into;
}

/** Why the JMESPath expression is refused (it does not parse, or calls a function JMESPath has not), or undefined. */
export function queryProblem(query: string): string | undefined {
  let ast: unknown;
  try {
    ast = compile(query);
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  const unknown = calledFunctions(ast).find((f) => !FUNCTIONS.has(f));
  if (unknown !== undefined)
    return `unknown function ${unknown}()${didYouMean(unknown, [...FUNCTIONS])}; JMESPath has ${[...FUNCTIONS].join(', ')}`;
  return undefined;
}
