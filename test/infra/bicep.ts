import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Just enough reading of Bicep text to check it against the code (no Bicep compiler installs here). */
export const INFRA = join(__dirname, '..', '..', 'infra');

export function bicepFiles(): string[] {
  return ['main.bicep', ...readdirSync(join(INFRA, 'modules')).map((f) => join('modules', f))];
}

export function read(file: string): string {
  return readFileSync(join(INFRA, file), 'utf8');
}

/** Bicep without comments (`//` to end of line, outside strings) — good enough for these files. */
export function code(file: string): string {
  return read(file)
    .split('\n')
    .map((line) => {
      let inString = false;
      for (let i = 0; i < line.length; i++) {
        if (line[i] === "'") inString = !inString;
        if (!inString && line[i] === '/' && line[i + 1] === '/') return line.slice(0, i);
      }
      return line;
    })
    .join('\n');
}

/** The text between the brace that opens at `start` (index of `{`) and its match. */
export function block(text: string, start: number): string {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === "'") inString = !inString;
    if (inString) continue;
    if (c === '{' || c === '[') depth++;
    if (c === '}' || c === ']') depth--;
    if (depth === 0) return text.slice(start + 1, i);
  }
  throw new Error('unbalanced braces');
}

/** Keys at the top level of an object block. */
export function topLevelKeys(objectBody: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let inString = false;
  let lineStart = true;
  for (let i = 0; i < objectBody.length; i++) {
    const c = objectBody[i];
    if (c === "'") inString = !inString;
    if (!inString) {
      if (c === '{' || c === '[' || c === '(') depth++;
      if (c === '}' || c === ']' || c === ')') depth--;
    }
    if (c === '\n' || c === ',') {
      lineStart = true;
      continue;
    }
    if (lineStart && depth === 0 && !inString && /\S/.test(c ?? '')) {
      const m = /^'?([A-Za-z_$][\w$]*)'?\s*:/.exec(objectBody.slice(i));
      if (m?.[1] !== undefined) keys.push(m[1]);
      lineStart = false;
    }
  }
  return keys;
}

export function params(file: string): string[] {
  return [...code(file).matchAll(/^param\s+(\w+)\s/gm)].map((m) => m[1] ?? '');
}

export interface ModuleUse {
  readonly symbol: string;
  readonly path: string;
  readonly params: string[];
}

export function modules(file: string): ModuleUse[] {
  const text = code(file);
  const uses: ModuleUse[] = [];
  for (const m of text.matchAll(/^module\s+(\w+)\s+'([^']+)'\s*=/gm)) {
    const from = m.index + m[0].length;
    const body = block(text, text.indexOf('{', from));
    const p = /\bparams:\s*\{/.exec(body);
    uses.push({
      symbol: m[1] ?? '',
      path: m[2] ?? '',
      params: p === null ? [] : topLevelKeys(block(body, p.index + p[0].length - 1)),
    });
  }
  return uses;
}

/*
 * Static checks for the classes of error a Bicep compiler or ARM would report on the first deployment. They take a
 * `BicepSource` so that each runs against the real infra/ and against small synthetic snippets (tests prove a
 * check can fail).
 */

/** A set of Bicep files: main.bicep and modules/*.bicep, by path relative to infra/. */
export interface BicepSource {
  readonly files: readonly string[];
  text(file: string): string;
}

export const infraSource: BicepSource = {
  files: bicepFiles(),
  text: (file) => read(file),
};

export function memorySource(files: Record<string, string>): BicepSource {
  return {
    files: Object.keys(files),
    text: (file) => {
      const t = files[file];
      if (t === undefined) throw new Error(`no file ${file}`);
      return t;
    },
  };
}

/**
 * Bicep text with comments removed and the inside of every string blanked (same length, newlines kept), so brackets
 * and keywords can be scanned without tripping over KQL or interpolations. Handles `\'` escapes, `${...}`
 * interpolation (nested braces), `'''` multi-line strings, `//` and `/* *\/` comments.
 */
export function structure(text: string): string {
  const out = text.split('');
  const blank = (from: number, to: number): void => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  let i = 0;
  while (i < text.length) {
    if (text.startsWith("'''", i)) {
      const end = text.indexOf("'''", i + 3);
      const stop = end < 0 ? text.length : end;
      blank(i + 3, stop);
      i = stop + 3;
    } else if (text[i] === "'") {
      let j = i + 1;
      let depth = 0;
      while (j < text.length) {
        const c = text[j];
        if (c === '\\') j += 2;
        else if (depth === 0 && c === "'") break;
        else if (c === '$' && text[j + 1] === '{') {
          depth++;
          j += 2;
        } else {
          if (depth > 0 && c === '{') depth++;
          if (depth > 0 && c === '}') depth--;
          j++;
        }
      }
      blank(i + 1, j);
      i = j + 1;
    } else if (text.startsWith('//', i)) {
      const end = text.indexOf('\n', i);
      const stop = end < 0 ? text.length : end;
      blank(i, stop);
      i = stop;
    } else if (text.startsWith('/*', i)) {
      const end = text.indexOf('*/', i + 2);
      const stop = end < 0 ? text.length : end + 2;
      blank(i, stop);
      i = stop;
    } else i++;
  }
  return out.join('');
}

export interface Finding {
  readonly file: string;
  readonly line: number;
  readonly problem: string;
}

const lineOf = (text: string, index: number): number => text.slice(0, index).split('\n').length;

/**
 * BCP138: "For-expressions are not supported in this context" — a `[for ...]` may be the value of a resource,
 * module, variable or output declaration, or of a property, but not an argument of a function call, the inside
 * of parentheses, or an operand of an operator (`cond ? [for ...] : []`).
 */
export function forExpressionsOutOfPlace(src: BicepSource): Finding[] {
  const findings: Finding[] = [];
  for (const file of src.files) {
    const text = structure(src.text(file));
    const stack: { char: string; call: boolean }[] = [];
    for (let i = 0; i < text.length; i++) {
      const c = text[i] ?? '';
      if (c === '(' || c === '[' || c === '{') {
        const before = text.slice(0, i).trimEnd();
        stack.push({ char: c, call: c === '(' && /[\w)]$/.test(before) });
        if (c === '[' && /^\[\s*for\s/.test(text.slice(i))) {
          const inParens = stack.slice(0, -1).find((s) => s.char === '(');
          const operator = /(\?|\?\?|&&|\|\||==|!=|[<>]=?|[+\-*/%!])$/.test(before);
          if (inParens !== undefined || operator)
            findings.push({
              file,
              line: lineOf(text, i),
              problem: inParens?.call
                ? 'for-expression inside a function call (BCP138): hoist it into a variable'
                : 'for-expression inside parentheses or an operator (BCP138): hoist it into a variable',
            });
        }
      } else if (c === ')' || c === ']' || c === '}') stack.pop();
    }
  }
  return findings;
}

/** The value text of each top-level `key: value` entry of an object body (values may span lines). */
export function topLevelEntries(objectBody: string): Map<string, string> {
  const entries = new Map<string, string>();
  const s = structure(objectBody);
  let depth = 0;
  let start = 0;
  const flush = (end: number): void => {
    const raw = objectBody.slice(start, end);
    const m = /^\s*'?([A-Za-z_$][\w$.]*)'?\s*:/.exec(raw);
    if (m?.[1] !== undefined) entries.set(m[1], raw.slice(m[0].length).trim());
  };
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '{' || c === '[' || c === '(') depth++;
    if (c === '}' || c === ']' || c === ')') depth--;
    if (depth === 0 && (c === '\n' || c === ',')) {
      flush(i);
      start = i + 1;
    }
  }
  flush(s.length);
  return entries;
}

/** Top-level declarations (`param`, `var`, `output`) of a file with the text of their value expressions. */
export function declarations(text: string): {
  params: Map<string, string | undefined>;
  vars: Map<string, string>;
} {
  const s = structure(text);
  const params = new Map<string, string | undefined>();
  const vars = new Map<string, string>();
  const starts = [...s.matchAll(/^(param|var|output|resource|module|targetScope|type|func|@)/gm)].map(
    (m) => m.index,
  );
  const endOf = (from: number): number => starts.find((x) => x > from) ?? s.length;
  for (const m of s.matchAll(/^param\s+(\w+)\s+[\w.[\]?]+(\s*=\s*)?/gm)) {
    const end = endOf(m.index);
    params.set(m[1] ?? '', m[2] === undefined ? undefined : text.slice(m.index + m[0].length, end).trim());
  }
  for (const m of s.matchAll(/^var\s+(\w+)\s*=\s*/gm))
    vars.set(m[1] ?? '', text.slice(m.index + m[0].length, endOf(m.index)).trim());
  return { params, vars };
}

type Value = string | number | boolean;
export class NotEvaluable extends Error {}

/**
 * Evaluates the small part of Bicep's expression language that alert windows are written in: string literals with
 * interpolation, integers, booleans, names (looked up lazily), `?:`, comparisons, `&&`, `||`, `!`, parentheses
 * and the functions string(), int(), min(), max(). Anything else throws NotEvaluable.
 */
export function evaluate(expression: string, lookup: (name: string) => Value): Value {
  let pos = 0;
  const src = expression.trim();
  const ws = (): void => {
    while (/\s/.test(src[pos] ?? '')) pos++;
  };
  const eat = (token: string): boolean => {
    ws();
    if (src.startsWith(token, pos)) {
      pos += token.length;
      return true;
    }
    return false;
  };
  const ternary = (): Value => {
    const cond = or();
    ws();
    if (src[pos] === '?' && src[pos + 1] !== '?' && src[pos + 1] !== '.') {
      pos++;
      const a = ternary();
      if (!eat(':')) throw new NotEvaluable(`expected ':' in ${src}`);
      const b = ternary();
      return cond === true ? a : b;
    }
    return cond;
  };
  const or = (): Value => {
    let v = and();
    while (eat('||')) v = v === true || and() === true;
    return v;
  };
  const and = (): Value => {
    let v = compare();
    while (eat('&&')) v = v === true && compare() === true;
    return v;
  };
  const compare = (): Value => {
    const a = unary();
    for (const op of ['<=', '>=', '==', '!=', '<', '>']) {
      if (eat(op)) {
        const b = unary();
        if (op === '==') return a === b;
        if (op === '!=') return a !== b;
        if (typeof a !== 'number' || typeof b !== 'number') throw new NotEvaluable(`${op} on non-numbers`);
        return op === '<=' ? a <= b : op === '>=' ? a >= b : op === '<' ? a < b : a > b;
      }
    }
    return a;
  };
  const unary = (): Value => (eat('!') ? unary() !== true : primary());
  const primary = (): Value => {
    ws();
    const rest = src.slice(pos);
    if (rest.startsWith("'")) return stringLiteral();
    if (eat('(')) {
      const v = ternary();
      if (!eat(')')) throw new NotEvaluable(`expected ')' in ${src}`);
      return v;
    }
    const num = /^-?\d+/.exec(rest);
    if (num !== null) {
      pos += num[0].length;
      return Number(num[0]);
    }
    const name = /^[A-Za-z_]\w*/.exec(rest);
    if (name === null) throw new NotEvaluable(`cannot read ${rest.slice(0, 20)}`);
    pos += name[0].length;
    if (name[0] === 'true' || name[0] === 'false') return name[0] === 'true';
    ws();
    if (src[pos] === '(') {
      pos++;
      const args: Value[] = [];
      if (!eat(')')) {
        do args.push(ternary());
        while (eat(','));
        if (!eat(')')) throw new NotEvaluable(`expected ')' after arguments in ${src}`);
      }
      const nums = args.map((a) => (typeof a === 'number' ? a : Number.NaN));
      switch (name[0]) {
        case 'string':
          return String(args[0]);
        case 'int':
          return Number(args[0]);
        case 'min':
          return Math.min(...nums);
        case 'max':
          return Math.max(...nums);
        default:
          throw new NotEvaluable(`function ${name[0]}() is not evaluated here`);
      }
    }
    if (src[pos] === '.' || src[pos] === '[') throw new NotEvaluable(`member access on ${name[0]}`);
    return lookup(name[0]);
  };
  const stringLiteral = (): Value => {
    pos++; // opening quote
    let out = '';
    while (pos < src.length && src[pos] !== "'") {
      if (src[pos] === '\\') {
        out += src[pos + 1] ?? '';
        pos += 2;
      } else if (src.startsWith('${', pos)) {
        pos += 2;
        out += String(ternary());
        if (!eat('}')) throw new NotEvaluable(`unclosed interpolation in ${src}`);
      } else out += src[pos++] ?? '';
    }
    pos++; // closing quote
    return out;
  };
  const v = ternary();
  ws();
  if (pos < src.length) throw new NotEvaluable(`unread text "${src.slice(pos)}" in ${src}`);
  return v;
}

/** Where a module's file lives, relative to infra/, from the file that uses it. */
export function modulePath(fromFile: string, use: string): string {
  const dir = fromFile.includes('/') ? fromFile.slice(0, fromFile.lastIndexOf('/') + 1) : '';
  const parts = `${dir}${use}`.split('/');
  const out: string[] = [];
  for (const p of parts) {
    if (p === '..') out.pop();
    else if (p !== '.') out.push(p);
  }
  return out.join('/');
}

interface ModuleCall {
  readonly symbol: string;
  readonly file: string;
  readonly body: string;
  readonly params: Map<string, string>;
}

export function moduleCalls(src: BicepSource, file: string): ModuleCall[] {
  const text = src.text(file);
  const s = structure(text);
  const calls: ModuleCall[] = [];
  for (const m of s.matchAll(/^module\s+(\w+)\s+'([^']+)'\s*=/gm)) {
    const from = m.index + m[0].length;
    const open = s.indexOf('{', from);
    const body = text.slice(open + 1, open + 1 + block(s, open).length);
    const p = /\bparams:\s*\{/.exec(structure(body));
    const path = text.slice(m.index, m.index + m[0].length).match(/'([^']+)'/)?.[1] ?? '';
    calls.push({
      symbol: m[1] ?? '',
      file: modulePath(file, path),
      body,
      params:
        p === null
          ? new Map()
          : topLevelEntries(
              body.slice(
                p.index + p[0].length,
                p.index + p[0].length + block(structure(body), p.index + p[0].length - 1).length,
              ),
            ),
    });
  }
  return calls;
}

/** Each file's environment for evaluation: parameter defaults, overridden by what the (first) caller passes. */
function environments(src: BicepSource): Map<string, (name: string) => Value> {
  const envs = new Map<string, (name: string) => Value>();
  const make = (file: string, passed: Map<string, () => Value>): void => {
    const text = src.text(file);
    const { params, vars } = declarations(text);
    const cache = new Map<string, Value>();
    const lookup = (name: string): Value => {
      const hit = cache.get(name);
      if (hit !== undefined) return hit;
      let v: Value;
      const given = passed.get(name);
      if (given !== undefined) v = given();
      else if (params.get(name) !== undefined) v = evaluate(params.get(name) ?? '', lookup);
      else if (vars.has(name)) v = evaluate(vars.get(name) ?? '', lookup);
      else throw new NotEvaluable(`${file}: no value for ${name}`);
      cache.set(name, v);
      return v;
    };
    envs.set(file, lookup);
    for (const call of moduleCalls(src, file)) {
      if (envs.has(call.file) || !src.files.includes(call.file)) continue;
      const given = new Map<string, () => Value>();
      for (const [k, expr] of call.params) given.set(k, () => evaluate(expr, lookup));
      make(call.file, given);
    }
  };
  make('main.bicep', new Map());
  for (const f of src.files) if (!envs.has(f)) make(f, new Map());
  return envs;
}

/**
 * Allowed alert windows and frequencies. Log alerts (scheduledQueryRules): the service refuses any other window
 * with "Supported granularities are: 5, 10, 15, 30, 45, 60, 120, 180, 240, 300, 360, 1440, 2880" (minutes;
 * Azure/azure-rest-api-specs#21258), PT1M only with a 1-minute frequency, and frequency PT1M…P1D (no P2D), at most
 * the window (the window is the query's lookback). Metric alerts: frequency PT1M, PT5M, PT15M, PT30M, PT1H; window
 * PT1M, PT5M, PT15M, PT30M, PT1H, PT6H, PT12H, P1D (as the azurerm provider validates them; not from a Microsoft page).
 */
export const MINUTES: Record<string, number> = {
  PT1M: 1,
  PT5M: 5,
  PT10M: 10,
  PT15M: 15,
  PT30M: 30,
  PT45M: 45,
  PT1H: 60,
  PT2H: 120,
  PT3H: 180,
  PT4H: 240,
  PT5H: 300,
  PT6H: 360,
  PT12H: 720,
  P1D: 1440,
  P2D: 2880,
};
export const ALERT_RULES = {
  'Microsoft.Insights/scheduledQueryRules': {
    windows: [
      'PT1M',
      'PT5M',
      'PT10M',
      'PT15M',
      'PT30M',
      'PT45M',
      'PT1H',
      'PT2H',
      'PT3H',
      'PT4H',
      'PT5H',
      'PT6H',
      'P1D',
      'P2D',
    ],
    frequencies: [
      'PT1M',
      'PT5M',
      'PT10M',
      'PT15M',
      'PT30M',
      'PT45M',
      'PT1H',
      'PT2H',
      'PT3H',
      'PT4H',
      'PT5H',
      'PT6H',
      'P1D',
    ],
  },
  'Microsoft.Insights/metricAlerts': {
    windows: ['PT1M', 'PT5M', 'PT15M', 'PT30M', 'PT1H', 'PT6H', 'PT12H', 'P1D'],
    frequencies: ['PT1M', 'PT5M', 'PT15M', 'PT30M', 'PT1H'],
  },
} as const;

/** Every resource declaration: file, symbol, type, api version, whether `existing`, and its body text. */
export function resources(src: BicepSource): {
  file: string;
  symbol: string;
  type: string;
  apiVersion: string;
  existing: boolean;
  body: string;
  line: number;
}[] {
  const found = [];
  for (const file of src.files) {
    const text = src.text(file);
    const s = structure(text);
    for (const m of s.matchAll(/^resource\s+(\w+)\s+'/gm)) {
      const quoted = /^resource\s+\w+\s+'([^'@]+)@([^']+)'\s*(existing)?\s*=/.exec(text.slice(m.index));
      if (quoted === null) continue;
      const open = s.indexOf('{', m.index + quoted[0].length);
      found.push({
        file,
        symbol: m[1] ?? '',
        type: quoted[1] ?? '',
        apiVersion: quoted[2] ?? '',
        existing: quoted[3] !== undefined,
        body: text.slice(open + 1, open + 1 + block(s, open).length),
        line: lineOf(text, m.index),
      });
    }
  }
  return found;
}

/** Alert windows and frequencies, evaluated with the default parameter values, outside what Azure accepts. */
export function alertWindowProblems(src: BicepSource): Finding[] {
  const envs = environments(src);
  const findings: Finding[] = [];
  for (const r of resources(src)) {
    const rules = ALERT_RULES[r.type as keyof typeof ALERT_RULES] as
      { windows: readonly string[]; frequencies: readonly string[] } | undefined;
    if (rules === undefined || r.existing) continue;
    const sb = structure(r.body);
    const open = sb.indexOf('{', sb.search(/\bproperties:/));
    const props = topLevelEntries(r.body.slice(open + 1, open + 1 + block(sb, open).length));
    const lookup =
      envs.get(r.file) ??
      ((n: string): Value => {
        throw new NotEvaluable(n);
      });
    const value = (key: string): string | undefined => {
      const expr = props.get(key);
      if (expr === undefined) {
        findings.push({ file: r.file, line: r.line, problem: `${r.symbol}: no ${key}` });
        return undefined;
      }
      try {
        return String(evaluate(expr, lookup));
      } catch (e) {
        findings.push({
          file: r.file,
          line: r.line,
          problem: `${r.symbol}: ${key} cannot be evaluated (${(e as Error).message})`,
        });
        return undefined;
      }
    };
    const window = value('windowSize');
    const frequency = value('evaluationFrequency');
    if (window !== undefined && !rules.windows.includes(window))
      findings.push({
        file: r.file,
        line: r.line,
        problem: `${r.symbol}: window ${window} is not one of ${rules.windows.join(', ')}`,
      });
    if (frequency !== undefined && !rules.frequencies.includes(frequency))
      findings.push({
        file: r.file,
        line: r.line,
        problem: `${r.symbol}: frequency ${frequency} is not one of ${rules.frequencies.join(', ')}`,
      });
    if (
      window !== undefined &&
      frequency !== undefined &&
      MINUTES[window] !== undefined &&
      MINUTES[frequency] !== undefined &&
      MINUTES[window] < MINUTES[frequency]
    )
      findings.push({
        file: r.file,
        line: r.line,
        problem: `${r.symbol}: window ${window} is shorter than the frequency ${frequency}`,
      });
    if (window === 'PT1M' && frequency !== 'PT1M')
      findings.push({
        file: r.file,
        line: r.line,
        problem: `${r.symbol}: a PT1M window needs a PT1M frequency`,
      });
  }
  return findings;
}

/** Index just past the `)` that closes the `(` at `open`, in structure() text. */
function closingParen(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === '(') depth++;
    if (s[i] === ')' && --depth === 0) return i + 1;
  }
  return s.length;
}

/** Resource types a file deploys, itself or through the modules it calls. */
function deployedTypes(src: BicepSource, file: string, seen = new Set<string>()): Set<string> {
  const types = new Set<string>();
  if (seen.has(file) || !src.files.includes(file)) return types;
  seen.add(file);
  for (const r of resources(src)) if (r.file === file && !r.existing) types.add(r.type.toLowerCase());
  for (const call of moduleCalls(src, file))
    for (const t of deployedTypes(src, call.file, seen)) types.add(t);
  return types;
}

/**
 * A reference to a resource that this deployment creates must carry a dependency on its creator, or ARM may read it
 * before it exists (the first deployment fails, later ones pass). Flags, in main.bicep, resourceId() calls naming a
 * type that a module deploys (take the id from that module's outputs instead), and modules whose file reads an
 * `existing` resource of a type another module deploys without depending on that module (outputs used in its
 * params or dependsOn).
 */
export function undeclaredDependencies(src: BicepSource): Finding[] {
  const findings: Finding[] = [];
  const main = 'main.bicep';
  const calls = moduleCalls(src, main);
  const byModule = new Map(calls.map((c) => [c.symbol, deployedTypes(src, c.file)]));
  const deployedAnywhere = new Set([...byModule.values()].flatMap((t) => [...t]));
  const mainText = src.text(main);
  // resourceId() and friends build an id without a dependency. In main.bicep, of a type any of its modules
  // creates; in any file, of a type that file (or a module it calls) creates.
  for (const file of src.files) {
    const text = src.text(file);
    const s = structure(text);
    const created = file === main ? deployedAnywhere : deployedTypes(src, file);
    for (const m of s.matchAll(/\b(resourceId|subscriptionResourceId|extensionResourceId)\s*\(/g)) {
      const args = text.slice(m.index, closingParen(s, m.index + m[0].length - 1));
      const type = /'([A-Za-z]+\.[A-Za-z]+\/[^']+)'/.exec(args)?.[1];
      if (type !== undefined && created.has(type.toLowerCase()))
        findings.push({
          file,
          line: lineOf(text, m.index),
          problem:
            file === main
              ? `${m[1]}() of ${type}, which a module of this deployment creates: use that module's output (a dependency)`
              : `${m[1]}() of ${type}, which this file creates: use the resource's symbol or its module's output (a dependency)`,
        });
    }
  }
  for (const call of calls) {
    const needs = resources(src).filter((r) => r.file === call.file && r.existing);
    const dependsOn = new Set([
      ...[...structure(call.body).matchAll(/\b(\w+)(\[[^\]]*\])?\.outputs\b/g)].map((m) => m[1] ?? ''),
      ...[...(/\bdependsOn:\s*\[([^\]]*)\]/.exec(call.body)?.[1] ?? '').matchAll(/\w+/g)].map((m) => m[0]),
    ]);
    for (const r of needs) {
      const creators = [...byModule.entries()].filter(
        ([symbol, types]) => symbol !== call.symbol && types.has(r.type.toLowerCase()),
      );
      for (const [creator] of creators)
        if (!dependsOn.has(creator))
          findings.push({
            file: main,
            line: lineOf(mainText, mainText.indexOf(`module ${call.symbol} `)),
            problem: `module ${call.symbol} reads an existing ${r.type} (${call.file}) that module ${creator} creates, without depending on it`,
          });
    }
  }
  return findings;
}
