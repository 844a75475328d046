/**
 * The subset of Kusto (KQL) that Resource Graph queries from this project use, evaluated for real:
 *   <table> | where <expr> | project a, b | order by a [asc|desc] | take N
 * with `and`/`or`/`not()`, parentheses, `==` `!=` `=~` `!~` `startswith` `!startswith` `startswith_cs`
 * `contains` `has`, `in` `in~` `!in` `!in~` over a parenthesised list of literals, `tostring()` `tolower()` `isempty()` `isnotempty()`, dotted paths and string/number
 * literals. Anything else is a parse error, never silently ignored.
 */
export class KqlError extends Error {}

type Token = { kind: 'ident' | 'string' | 'number' | 'op' | 'punct'; text: string };

const MEMBERSHIP = ['in', 'in~', '!in', '!in~'];
const OPERATORS = ['==', '!=', '=~', '!~', '!startswith', 'startswith_cs', 'startswith', 'contains', 'has'];

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] ?? '';
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "'" || c === '"') {
      let j = i + 1;
      let text = '';
      while (j < src.length && src[j] !== c) {
        if (src[j] === '\\') {
          j++;
          text += src[j] ?? '';
        } else text += src[j] ?? '';
        j++;
      }
      if (j >= src.length) throw new KqlError(`unterminated string at ${i}`);
      tokens.push({ kind: 'string', text });
      i = j + 1;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (['==', '!=', '=~', '!~'].includes(two)) {
      tokens.push({ kind: 'op', text: two });
      i += 2;
      continue;
    }
    // Set membership: `in` (case-sensitive), `in~` (case-insensitive) and their negations `!in`, `!in~`
    // (Kusto "in and !in operators", "in~ operator"), each followed by a parenthesised list.
    const member = /^!?in~?(?![\w$])/.exec(src.slice(i));
    if (member !== null && (member[0] !== 'in' || /^in\s*\(/.test(src.slice(i)))) {
      tokens.push({ kind: 'op', text: member[0] });
      i += member[0].length;
      continue;
    }
    if (src.startsWith('!startswith', i)) {
      tokens.push({ kind: 'op', text: '!startswith' });
      i += '!startswith'.length;
      continue;
    }
    if ('|,().[]'.includes(c)) {
      tokens.push({ kind: 'punct', text: c });
      i++;
      continue;
    }
    const num = /^\d+(\.\d+)?/.exec(src.slice(i));
    if (num !== null) {
      tokens.push({ kind: 'number', text: num[0] });
      i += num[0].length;
      continue;
    }
    const ident = /^[A-Za-z_$][\w$]*/.exec(src.slice(i));
    if (ident !== null) {
      const word = ident[0];
      tokens.push({ kind: OPERATORS.includes(word) ? 'op' : 'ident', text: word });
      i += word.length;
      continue;
    }
    throw new KqlError(`unexpected character '${c}' at ${i}`);
  }
  return tokens;
}

type Expr =
  | { t: 'path'; path: string[] }
  | { t: 'lit'; value: string | number }
  | { t: 'call'; fn: string; arg: Expr }
  | { t: 'cmp'; op: string; left: Expr; right: Expr }
  | { t: 'in'; op: string; left: Expr; values: (string | number)[] }
  | { t: 'and' | 'or'; left: Expr; right: Expr }
  | { t: 'not'; arg: Expr };

export type Row = Record<string, unknown>;

interface Stage {
  readonly kind: 'where' | 'project' | 'order' | 'take';
  readonly expr?: Expr;
  readonly columns?: string[];
  readonly order?: { column: string; desc: boolean }[];
  readonly count?: number;
}

class Parser {
  private i = 0;
  constructor(private readonly tokens: Token[]) {}

  peek(): Token | undefined {
    return this.tokens[this.i];
  }
  next(): Token {
    const t = this.tokens[this.i++];
    if (t === undefined) throw new KqlError('unexpected end of query');
    return t;
  }
  expect(text: string): void {
    const t = this.next();
    if (t.text.toLowerCase() !== text) throw new KqlError(`expected '${text}', found '${t.text}'`);
  }
  isWord(text: string): boolean {
    const t = this.peek();
    return t !== undefined && t.kind === 'ident' && t.text.toLowerCase() === text;
  }
  skipComma(): boolean {
    if (this.peek()?.text !== ',') return false;
    this.next();
    return true;
  }
  done(): boolean {
    return this.i >= this.tokens.length;
  }

  query(): { table: string; stages: Stage[] } {
    const table = this.next();
    if (table.kind !== 'ident') throw new KqlError('a query starts with a table name');
    const stages: Stage[] = [];
    while (!this.done()) {
      this.expect('|');
      const op = this.next().text.toLowerCase();
      if (op === 'where') stages.push({ kind: 'where', expr: this.or() });
      else if (op === 'project') stages.push({ kind: 'project', columns: this.columnList() });
      else if (op === 'order' || op === 'sort') {
        this.expect('by');
        const order: { column: string; desc: boolean }[] = [];
        do {
          const column = this.next().text;
          let desc = true; // KQL's default sort order is descending
          if (this.isWord('asc')) {
            this.next();
            desc = false;
          } else if (this.isWord('desc')) this.next();
          order.push({ column, desc });
        } while (this.skipComma());
        stages.push({ kind: 'order', order });
      } else if (op === 'take' || op === 'limit') {
        const n = this.next();
        if (n.kind !== 'number') throw new KqlError(`${op} needs a number`);
        stages.push({ kind: 'take', count: Number(n.text) });
      } else throw new KqlError(`operator '${op}' is not supported`);
    }
    return { table: table.text.toLowerCase(), stages };
  }

  columnList(): string[] {
    const cols: string[] = [];
    do {
      const t = this.next();
      if (t.kind !== 'ident') throw new KqlError(`expected a column name, found '${t.text}'`);
      if (this.peek()?.text === '=' || this.peek()?.text === '.')
        throw new KqlError('computed columns are not supported');
      cols.push(t.text);
    } while (this.skipComma());
    return cols;
  }

  or(): Expr {
    let left = this.and();
    while (this.isWord('or')) {
      this.next();
      left = { t: 'or', left, right: this.and() };
    }
    return left;
  }

  and(): Expr {
    let left = this.unary();
    while (this.isWord('and')) {
      this.next();
      left = { t: 'and', left, right: this.unary() };
    }
    return left;
  }

  unary(): Expr {
    if (this.peek()?.text === '(') {
      this.next();
      const e = this.or();
      this.expect(')');
      return e;
    }
    if (this.isWord('not')) {
      this.next();
      this.expect('(');
      const e = this.or();
      this.expect(')');
      return { t: 'not', arg: e };
    }
    const left = this.operand();
    const op = this.peek();
    if (op?.kind === 'op' && MEMBERSHIP.includes(op.text)) {
      this.next();
      this.expect('(');
      const values: (string | number)[] = [];
      do {
        const v = this.next();
        if (v.kind !== 'string' && v.kind !== 'number')
          throw new KqlError(`${op.text} takes a list of literals, found '${v.text}'`);
        values.push(v.kind === 'number' ? Number(v.text) : v.text);
      } while (this.skipComma());
      this.expect(')');
      return { t: 'in', op: op.text, left, values };
    }
    if (op?.kind === 'op') {
      this.next();
      return { t: 'cmp', op: op.text, left, right: this.operand() };
    }
    if (left.t === 'call' && (left.fn === 'isempty' || left.fn === 'isnotempty')) return left;
    throw new KqlError(`expected a comparison after ${describe(left)}`);
  }

  operand(): Expr {
    const t = this.next();
    if (t.kind === 'string') return { t: 'lit', value: t.text };
    if (t.kind === 'number') return { t: 'lit', value: Number(t.text) };
    if (t.kind !== 'ident') throw new KqlError(`unexpected '${t.text}'`);
    const fn = t.text.toLowerCase();
    if (this.peek()?.text === '(') {
      if (!['tostring', 'tolower', 'isempty', 'isnotempty'].includes(fn))
        throw new KqlError(`function '${t.text}' is not supported`);
      this.next();
      const arg = this.operand();
      this.expect(')');
      return { t: 'call', fn, arg };
    }
    const path = [t.text];
    for (;;) {
      if (this.peek()?.text === '.') {
        this.next();
        const p = this.next();
        if (p.kind !== 'ident') throw new KqlError(`expected a property name after '.'`);
        path.push(p.text);
      } else if (this.peek()?.text === '[') {
        this.next();
        const p = this.next();
        if (p.kind !== 'string') throw new KqlError('expected a string index');
        this.expect(']');
        path.push(p.text);
      } else break;
    }
    return { t: 'path', path };
  }
}

function describe(e: Expr): string {
  return e.t === 'path' ? e.path.join('.') : e.t;
}

function lookup(row: Row, path: string[]): unknown {
  let v: unknown = row;
  for (const p of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    // Property names in dynamic columns match case-sensitively in KQL, column names too.
    v = (v as Record<string, unknown>)[p];
  }
  return v;
}

function value(e: Expr, row: Row): unknown {
  switch (e.t) {
    case 'lit':
      return e.value;
    case 'path':
      return lookup(row, e.path);
    case 'call': {
      const v = value(e.arg, row);
      if (e.fn === 'tostring') {
        if (typeof v === 'string') return v;
        if (typeof v === 'number' || typeof v === 'boolean') return String(v);
        return v === undefined || v === null ? '' : JSON.stringify(v);
      }
      if (e.fn === 'tolower') return typeof v === 'string' ? v.toLowerCase() : v;
      if (e.fn === 'isempty') return v === undefined || v === null || v === '';
      return !(v === undefined || v === null || v === '');
    }
    default:
      return test(e, row);
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
}

function test(e: Expr, row: Row): boolean {
  switch (e.t) {
    case 'and':
      return test(e.left, row) && test(e.right, row);
    case 'or':
      return test(e.left, row) || test(e.right, row);
    case 'not':
      return !test(e.arg, row);
    case 'call':
      return value(e, row) === true;
    case 'in': {
      // A null/missing value is in no list (so `!in` holds for it); `in~` compares case-insensitively.
      const l = str(value(e.left, row));
      const fold = e.op.endsWith('~');
      const hit =
        l !== undefined &&
        e.values.some((v) => (fold ? String(v).toLowerCase() === l.toLowerCase() : String(v) === l));
      return e.op.startsWith('!') ? !hit : hit;
    }
    case 'cmp': {
      const l = str(value(e.left, row));
      const r = str(value(e.right, row));
      if (l === undefined || r === undefined)
        return e.op === '!=' || e.op === '!~' || e.op === '!startswith' ? l !== r : false;
      switch (e.op) {
        case '==':
          return l === r;
        case '!=':
          return l !== r;
        case '=~':
          return l.toLowerCase() === r.toLowerCase();
        case '!~':
          return l.toLowerCase() !== r.toLowerCase();
        case 'startswith':
          return l.toLowerCase().startsWith(r.toLowerCase());
        case '!startswith':
          return !l.toLowerCase().startsWith(r.toLowerCase());
        case 'startswith_cs':
          return l.startsWith(r);
        case 'contains':
          return l.toLowerCase().includes(r.toLowerCase());
        case 'has':
          return new RegExp(
            `(^|[^A-Za-z0-9])${r.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^A-Za-z0-9])`,
            'i',
          ).test(l);
        default:
          throw new KqlError(`operator ${e.op} is not supported`);
      }
    }
    default:
      throw new KqlError(`${describe(e)} is not a condition`);
  }
}

/** Parses and runs a query over the named tables. */
export function runKql(query: string, tables: Readonly<Record<string, readonly Row[]>>): Row[] {
  const { table, stages } = new Parser(tokenize(query)).query();
  const source = tables[table];
  if (source === undefined) throw new KqlError(`table '${table}' is not supported`);
  let rows: Row[] = [...source];
  for (const s of stages) {
    if (s.kind === 'where' && s.expr !== undefined) {
      const expr = s.expr;
      rows = rows.filter((r) => test(expr, r));
    } else if (s.kind === 'project' && s.columns !== undefined) {
      const cols = s.columns;
      for (const c of cols)
        if (source.length > 0 && !(c in (source[0] ?? {})))
          throw new KqlError(`column '${c}' does not exist`);
      rows = rows.map((r) => Object.fromEntries(cols.map((c) => [c, r[c]])));
    } else if (s.kind === 'order' && s.order !== undefined) {
      const order = s.order;
      rows.sort((a, b) => {
        for (const o of order) {
          const x = str(a[o.column]) ?? '';
          const y = str(b[o.column]) ?? '';
          const c = x < y ? -1 : x > y ? 1 : 0;
          if (c !== 0) return o.desc ? -c : c;
        }
        return 0;
      });
    } else if (s.kind === 'take' && s.count !== undefined) {
      rows = rows.slice(0, s.count);
    }
  }
  return rows;
}
