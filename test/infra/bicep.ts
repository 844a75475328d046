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
