// The bytes of a WebAssembly module, written by hand (WebAssembly Core Specification 2.0, chapter 5,
// "Binary Format"): LEB128 numbers, the type, import, function, export and code sections, and the
// instructions the prototype translator needs. No compiler or assembler is involved: the translator
// emits these bytes directly, as v86's JIT does.

/** Value types (§5.3.1). */
export const I32 = 0x7f;
export const I64 = 0x7e;
/** The empty block type (§5.4.1). */
const VOID = 0x40;

/** Opcodes used by the translator (§5.4). */
export const enum Op {
  block = 0x02, loop = 0x03, if = 0x04, else = 0x05, end = 0x0b, br = 0x0c, br_if = 0x0d, br_table = 0x0e,
  call = 0x10, select = 0x1b,
  local_get = 0x20, local_set = 0x21, local_tee = 0x22,
  i32_load = 0x28, i32_load8_u = 0x2d, i32_load16_u = 0x2f, i32_store = 0x36, i32_store8 = 0x3a, i32_store16 = 0x3b,
  i32_const = 0x41, i64_const = 0x42,
  i32_eqz = 0x45, i32_eq = 0x46, i32_ne = 0x47, i32_lt_s = 0x48, i32_lt_u = 0x49, i32_gt_s = 0x4a, i32_gt_u = 0x4b,
  i32_le_s = 0x4c, i32_le_u = 0x4d, i32_ge_s = 0x4e, i32_ge_u = 0x4f,
  i64_ne = 0x52,
  i32_popcnt = 0x69, i32_add = 0x6a, i32_sub = 0x6b, i32_mul = 0x6c, i32_and = 0x71, i32_or = 0x72, i32_xor = 0x73,
  i32_shl = 0x74, i32_shr_s = 0x75, i32_shr_u = 0x76, i32_rotl = 0x77, i32_rotr = 0x78,
  i64_mul = 0x7e, i64_shr_u = 0x88,
  i32_wrap_i64 = 0xa7, i64_extend_i32_s = 0xac, i64_extend_i32_u = 0xad,
}

function uleb(out: number[], v: number): void {
  v >>>= 0;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
}

function sleb(out: number[], v: number): void {
  v |= 0;
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

/** A label: the nesting depth of the block, loop or if it names. */
export type Label = number;

/**
 * One function body. Structured control flow is tracked so that a branch names its target by the
 * label `open` returned instead of a relative depth (§2.4.8: br counts enclosing constructs outward).
 */
export class Code {
  readonly bytes: number[] = [];
  private depth = 0;

  op(...b: number[]): this {
    this.bytes.push(...b);
    return this;
  }

  i32(v: number): this {
    this.bytes.push(Op.i32_const);
    sleb(this.bytes, v);
    return this;
  }

  i64(v: number): this {
    this.bytes.push(Op.i64_const);
    sleb(this.bytes, v);
    return this;
  }

  get(local: number): this {
    this.bytes.push(Op.local_get);
    uleb(this.bytes, local);
    return this;
  }

  set(local: number): this {
    this.bytes.push(Op.local_set);
    uleb(this.bytes, local);
    return this;
  }

  tee(local: number): this {
    this.bytes.push(Op.local_tee);
    uleb(this.bytes, local);
    return this;
  }

  /** A load or store with its memarg: log2 alignment hint and constant offset (§5.4.6). */
  mem(op: Op, align: number, offset: number): this {
    this.bytes.push(op);
    uleb(this.bytes, align);
    uleb(this.bytes, offset);
    return this;
  }

  call(func: number): this {
    this.bytes.push(Op.call);
    uleb(this.bytes, func);
    return this;
  }

  /** Opens a block, loop or if with no result (or an i32 result for an if used as an expression). */
  open(kind: Op.block | Op.loop | Op.if, result: number = VOID): Label {
    this.bytes.push(kind, result);
    return this.depth++;
  }

  else(): this {
    this.bytes.push(Op.else);
    return this;
  }

  close(): this {
    this.bytes.push(Op.end);
    this.depth--;
    return this;
  }

  private rel(label: Label): number {
    const d = this.depth - 1 - label;
    if (d < 0) throw new Error(`branch to label ${label} from depth ${this.depth}: not enclosing`);
    return d;
  }

  br(label: Label): this {
    this.bytes.push(Op.br);
    uleb(this.bytes, this.rel(label));
    return this;
  }

  brTable(labels: readonly Label[], otherwise: Label): this {
    this.bytes.push(Op.br_table);
    uleb(this.bytes, labels.length);
    for (const l of labels) uleb(this.bytes, this.rel(l));
    uleb(this.bytes, this.rel(otherwise));
    return this;
  }

  get openConstructs(): number {
    return this.depth;
  }
}

export interface FuncType {
  readonly params: readonly number[];
  readonly results: readonly number[];
}

export interface ModuleSpec {
  /** Imported from module "e": the memory as "mem" (with at least this many 64 KiB pages), then functions. */
  readonly memoryPages: number;
  readonly importFuncs: readonly { readonly name: string; readonly type: FuncType }[];
  /** Defined functions, numbered after the imports; each is exported under its name. */
  readonly funcs: readonly { readonly name: string; readonly type: FuncType; readonly locals: readonly number[]; readonly code: Code }[];
}

function name(out: number[], s: string): void {
  const b = new TextEncoder().encode(s);
  uleb(out, b.length);
  out.push(...b);
}

function section(out: number[], id: number, body: number[]): void {
  out.push(id);
  uleb(out, body.length);
  for (const b of body) out.push(b);
}

/** The module's bytes (§5.5). */
export function moduleBytes(spec: ModuleSpec): Uint8Array<ArrayBuffer> {
  const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const types: FuncType[] = [];
  const typeIndex = (t: FuncType): number => {
    let k = types.findIndex((u) => u.params.join() === t.params.join() && u.results.join() === t.results.join());
    if (k < 0) k = types.push(t) - 1;
    return k;
  };
  const importTypes = spec.importFuncs.map((f) => typeIndex(f.type));
  const funcTypes = spec.funcs.map((f) => typeIndex(f.type));

  const type: number[] = [];
  uleb(type, types.length);
  for (const t of types) {
    type.push(0x60);
    uleb(type, t.params.length);
    type.push(...t.params);
    uleb(type, t.results.length);
    type.push(...t.results);
  }
  section(out, 1, type);

  const imp: number[] = [];
  uleb(imp, 1 + spec.importFuncs.length);
  name(imp, 'e');
  name(imp, 'mem');
  imp.push(0x02, 0x00);
  uleb(imp, spec.memoryPages);
  spec.importFuncs.forEach((f, k) => {
    name(imp, 'e');
    name(imp, f.name);
    imp.push(0x00);
    uleb(imp, importTypes[k]!);
  });
  section(out, 2, imp);

  const fn: number[] = [];
  uleb(fn, funcTypes.length);
  for (const t of funcTypes) uleb(fn, t);
  section(out, 3, fn);

  const exp: number[] = [];
  uleb(exp, spec.funcs.length);
  spec.funcs.forEach((f, k) => {
    name(exp, f.name);
    exp.push(0x00);
    uleb(exp, spec.importFuncs.length + k);
  });
  section(out, 7, exp);

  const code: number[] = [];
  uleb(code, spec.funcs.length);
  for (const f of spec.funcs) {
    if (f.code.openConstructs !== 0) throw new Error(`function ${f.name}: ${f.code.openConstructs} blocks left open`);
    const body: number[] = [];
    // Locals as runs of one type (§5.5.13).
    const runs: [number, number][] = [];
    for (const t of f.locals) {
      const last = runs[runs.length - 1];
      if (last && last[1] === t) last[0]++;
      else runs.push([1, t]);
    }
    uleb(body, runs.length);
    for (const [count, t] of runs) {
      uleb(body, count);
      body.push(t);
    }
    for (const b of f.code.bytes) body.push(b);
    body.push(Op.end);
    uleb(code, body.length);
    for (const b of body) code.push(b);
  }
  section(out, 10, code);
  return new Uint8Array(out);
}
