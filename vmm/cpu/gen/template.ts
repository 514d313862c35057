// The table's templates (integer-table.ts, flags-table.ts) read as expressions rather than as text:
// what lets one description feed a code generator that does not write JavaScript. The JavaScript
// engines fill the text (integer-table.ts `fill`); the WebAssembly translator walks the tree this
// parses (bt/wasm/template-wasm.ts), and folds whatever it knows at translation time with `evaluate`.
//
// The language is the part of JavaScript's expressions the table uses: decimal numbers, names, calls
// of Math.imul, unary - ~ !, the binary operators * + - << >> >>> < <= > >= === !== & ^ |, and ?:,
// with JavaScript's precedence and meaning.

export type BinaryOp = '*' | '+' | '-' | '<<' | '>>' | '>>>' | '<' | '<=' | '>' | '>=' | '===' | '!==' | '&' | '^' | '|';
export type UnaryOp = '-' | '~' | '!';

export type Expr =
  | { readonly kind: 'num'; readonly value: number }
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'unary'; readonly op: UnaryOp; readonly e: Expr }
  | { readonly kind: 'binary'; readonly op: BinaryOp; readonly l: Expr; readonly r: Expr }
  | { readonly kind: 'cond'; readonly test: Expr; readonly yes: Expr; readonly no: Expr }
  | { readonly kind: 'imul'; readonly l: Expr; readonly r: Expr };

/** Binding strength by operator, JavaScript's order (higher binds tighter). */
const LEVELS: readonly (readonly BinaryOp[])[] = [
  ['|'],
  ['^'],
  ['&'],
  ['===', '!=='],
  ['<', '<=', '>', '>='],
  ['<<', '>>', '>>>'],
  ['+', '-'],
  ['*'],
];

const TOKEN = /\s*(\d+|[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*|>>>|===|!==|<<|>>|<=|>=|[-+*<>&^|~!?:(),])/y;

const parsed = new Map<string, Expr>();

/** The expression tree of `template`, parsed once. Throws on anything outside the language above. */
export function parse(template: string): Expr {
  let e = parsed.get(template);
  if (!e) parsed.set(template, (e = new Parser(template).all()));
  return e;
}

class Parser {
  private readonly tokens: string[] = [];
  private at = 0;

  constructor(private readonly text: string) {
    TOKEN.lastIndex = 0;
    while (TOKEN.lastIndex < text.length) {
      if (/^\s*$/.test(text.slice(TOKEN.lastIndex))) break;
      const m = TOKEN.exec(text);
      if (!m) throw new Error(`template ${text}: cannot read from ${text.slice(TOKEN.lastIndex)}`);
      this.tokens.push(m[1]!);
    }
  }

  all(): Expr {
    const e = this.conditional();
    if (this.at !== this.tokens.length) this.fail(`unexpected ${this.tokens[this.at]}`);
    return e;
  }

  private fail(why: string): never {
    throw new Error(`template ${this.text}: ${why}`);
  }

  private peek(): string | undefined {
    return this.tokens[this.at];
  }

  private take(t: string): void {
    if (this.tokens[this.at] !== t) this.fail(`expected ${t}`);
    this.at++;
  }

  private conditional(): Expr {
    const test = this.binary(0);
    if (this.peek() !== '?') return test;
    this.at++;
    const yes = this.conditional();
    this.take(':');
    return { kind: 'cond', test, yes, no: this.conditional() };
  }

  private binary(level: number): Expr {
    if (level === LEVELS.length) return this.unary();
    let l = this.binary(level + 1);
    for (;;) {
      const op = this.peek() as BinaryOp | undefined;
      if (op === undefined || !LEVELS[level]!.includes(op)) return l;
      this.at++;
      l = { kind: 'binary', op, l, r: this.binary(level + 1) };
    }
  }

  private unary(): Expr {
    const t = this.peek();
    if (t === '-' || t === '~' || t === '!') {
      this.at++;
      return { kind: 'unary', op: t, e: this.unary() };
    }
    return this.primary();
  }

  private primary(): Expr {
    const t = this.tokens[this.at++];
    if (t === undefined) this.fail('ends early');
    if (t === '(') {
      const e = this.conditional();
      this.take(')');
      return e;
    }
    if (/^\d/.test(t)) return { kind: 'num', value: Number(t) };
    if (t === 'Math.imul') {
      this.take('(');
      const l = this.conditional();
      this.take(',');
      const r = this.conditional();
      this.take(')');
      return { kind: 'imul', l, r };
    }
    if (/^[A-Za-z_$][\w$]*$/.test(t)) return { kind: 'name', name: t };
    return this.fail(`unexpected ${t}`);
  }
}

/** The names `e` reads. */
export function namesOf(e: Expr, into = new Set<string>()): Set<string> {
  switch (e.kind) {
    case 'name': into.add(e.name); break;
    case 'unary': namesOf(e.e, into); break;
    case 'binary': case 'imul': namesOf(e.l, into); namesOf(e.r, into); break;
    case 'cond': namesOf(e.test, into); namesOf(e.yes, into); namesOf(e.no, into); break;
  }
  return into;
}

/** `e`'s value as JavaScript gives it, with every name it reads in `values` (booleans as 0 and 1). */
export function evaluate(e: Expr, values: ReadonlyMap<string, number>): number {
  switch (e.kind) {
    case 'num': return e.value;
    case 'name': {
      const v = values.get(e.name);
      if (v === undefined) throw new Error(`template: no value for ${e.name}`);
      return v;
    }
    case 'unary': {
      const v = evaluate(e.e, values);
      return e.op === '-' ? -v : e.op === '~' ? ~v : Number(!v);
    }
    case 'cond': return evaluate(e.test, values) ? evaluate(e.yes, values) : evaluate(e.no, values);
    case 'imul': return Math.imul(evaluate(e.l, values), evaluate(e.r, values));
    case 'binary': {
      const l = evaluate(e.l, values), r = evaluate(e.r, values);
      switch (e.op) {
        case '*': return l * r;
        case '+': return l + r;
        case '-': return l - r;
        case '<<': return l << r;
        case '>>': return l >> r;
        case '>>>': return l >>> r;
        case '<': return Number(l < r);
        case '<=': return Number(l <= r);
        case '>': return Number(l > r);
        case '>=': return Number(l >= r);
        case '===': return Number(l === r);
        case '!==': return Number(l !== r);
        case '&': return l & r;
        case '^': return l ^ r;
        case '|': return l | r;
      }
    }
  }
}

/** `e` with each name in `defs` replaced by its tree (a step's value in place of the step's name). */
export function substitute(e: Expr, defs: ReadonlyMap<string, Expr>): Expr {
  switch (e.kind) {
    case 'num': return e;
    case 'name': return defs.get(e.name) ?? e;
    case 'unary': return { ...e, e: substitute(e.e, defs) };
    case 'binary': case 'imul': return { ...e, l: substitute(e.l, defs), r: substitute(e.r, defs) };
    case 'cond': return { ...e, test: substitute(e.test, defs), yes: substitute(e.yes, defs), no: substitute(e.no, defs) };
  }
}

/**
 * `template` as JavaScript text with each name in `names` replaced by its text, parenthesized unless
 * it is a name, a member, a literal or already one parenthesized group (a negative literal after a sign
 * is: `- -5` must not become `--5`).
 */
export function fillNames(template: string, names: Readonly<Record<string, string>>): string {
  return template.replace(/(^|[^\w$.])([A-Za-z_$][\w$]*)\b(?!\.)/g, (all, before: string, name: string, at: number) => {
    const v = names[name];
    if (v === undefined) return all;
    const plain = /^[\w$.[\]]+$/.test(v) || grouped(v) || (/^-\d+$/.test(v) && !/[-+~]$/.test(template.slice(0, at + before.length)));
    return before + (plain ? v : `(${v})`);
  });
}

/** Whether `v` is one parenthesized group: its first parenthesis closes at its end. */
function grouped(v: string): boolean {
  if (!v.startsWith('(')) return false;
  let depth = 0;
  for (let k = 0; k < v.length; k++) {
    if (v[k] === '(') depth++;
    else if (v[k] === ')' && --depth === 0) return k === v.length - 1;
  }
  return false;
}

/** Binding strength of the boolean renderings: || below !==. */
const BOOLEAN_LEVEL: Readonly<Partial<Record<BinaryOp, number>>> = { '|': 1, '^': 2 };

/**
 * A condition template over single flags (0 or 1) as a JavaScript boolean expression: each name
 * replaced by the boolean expression `flag` gives for it, | as ||, ^ as !==. The whole is parenthesized when
 * it is not a single flag.
 */
export function renderBoolean(template: string, flag: (name: string) => string): string {
  const e = parse(template);
  const text = (x: Expr, outer: number): string => {
    if (x.kind === 'name') return flag(x.name);
    if (x.kind !== 'binary' || BOOLEAN_LEVEL[x.op] === undefined) throw new Error(`condition ${template}: only flags, | and ^`);
    const level = BOOLEAN_LEVEL[x.op]!;
    const inner = `${text(x.l, level)} ${x.op === '|' ? '||' : '!=='} ${text(x.r, level + 1)}`;
    return level < outer ? `(${inner})` : inner;
  };
  return e.kind === 'name' ? text(e, 0) : `(${text(e, 0)})`;
}
