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
  call = 0x10, drop = 0x1a, select = 0x1b,
  local_get = 0x20, local_set = 0x21, local_tee = 0x22,
  i32_load = 0x28, i32_load8_s = 0x2c, i32_load8_u = 0x2d, i32_load16_s = 0x2e, i32_load16_u = 0x2f, i32_store = 0x36, i32_store8 = 0x3a, i32_store16 = 0x3b,
  i32_const = 0x41, i64_const = 0x42,
  i32_eqz = 0x45, i32_eq = 0x46, i32_ne = 0x47, i32_lt_s = 0x48, i32_lt_u = 0x49, i32_gt_s = 0x4a, i32_gt_u = 0x4b,
  i32_le_s = 0x4c, i32_le_u = 0x4d, i32_ge_s = 0x4e, i32_ge_u = 0x4f,
  i64_ne = 0x52,
  i32_popcnt = 0x69, i32_add = 0x6a, i32_sub = 0x6b, i32_mul = 0x6c, i32_and = 0x71, i32_or = 0x72, i32_xor = 0x73,
  i32_shl = 0x74, i32_shr_s = 0x75, i32_shr_u = 0x76, i32_rotl = 0x77, i32_rotr = 0x78,
  i64_mul = 0x7e, i64_shr_u = 0x88,
  i32_wrap_i64 = 0xa7, i64_extend_i32_s = 0xac, i64_extend_i32_u = 0xad,
}

/**
 * Bytes written one at a time into a typed array that doubles when full. A region's module is tens of
 * kilobytes, and JavaScript arrays of numbers, copied section by section, cost a boot 0.9 s (moduleBytes
 * and the function body together, against 0.06 s for V8 to compile the modules).
 */
class Bytes {
  private buf = new Uint8Array(1024);
  length = 0;

  private grow(need: number): void {
    let size = this.buf.length * 2;
    while (size < this.length + need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  byte(b: number): void {
    if (this.length === this.buf.length) this.grow(1);
    this.buf[this.length++] = b;
  }

  bytes(b: Uint8Array): void {
    if (this.length + b.length > this.buf.length) this.grow(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  uleb(v: number): void {
    v >>>= 0;
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      this.byte(b);
    } while (v !== 0);
  }

  sleb(v: number): void {
    v |= 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
        this.byte(b);
        return;
      }
      this.byte(b | 0x80);
    }
  }

  /** The bytes written, without a copy (valid until the next write). */
  view(): Uint8Array<ArrayBuffer> {
    return this.buf.subarray(0, this.length);
  }
}

/** A label: the nesting depth of the block, loop or if it names. */
export type Label = number;

/**
 * One function body. Structured control flow is tracked so that a branch names its target by the
 * label `open` returned instead of a relative depth (§2.4.8: br counts enclosing constructs outward).
 */
export class Code {
  private readonly out = new Bytes();
  private depth = 0;
  /** Branch hints: the body offset of an `if` and 1 if it is likely taken, 0 if unlikely. */
  readonly hints: [offset: number, likely: number][] = [];

  /** The body's instructions so far. */
  get bytes(): Uint8Array<ArrayBuffer> {
    return this.out.view();
  }

  op(b: number, b2?: number, b3?: number): this {
    this.out.byte(b);
    if (b2 !== undefined) this.out.byte(b2);
    if (b3 !== undefined) this.out.byte(b3);
    return this;
  }

  /** Instructions compiled apart (with no branches: they name no label). */
  raw(b: Uint8Array): this {
    this.out.bytes(b);
    return this;
  }

  i32(v: number): this {
    this.out.byte(Op.i32_const);
    this.out.sleb(v);
    return this;
  }

  i64(v: number): this {
    this.out.byte(Op.i64_const);
    this.out.sleb(v);
    return this;
  }

  get(local: number): this {
    this.out.byte(Op.local_get);
    this.out.uleb(local);
    return this;
  }

  set(local: number): this {
    this.out.byte(Op.local_set);
    this.out.uleb(local);
    return this;
  }

  tee(local: number): this {
    this.out.byte(Op.local_tee);
    this.out.uleb(local);
    return this;
  }

  /** A load or store with its memarg: log2 alignment hint and constant offset (§5.4.6). */
  mem(op: Op, align: number, offset: number): this {
    this.out.byte(op);
    this.out.uleb(align);
    this.out.uleb(offset);
    return this;
  }

  call(func: number): this {
    this.out.byte(Op.call);
    this.out.uleb(func);
    return this;
  }

  /** Opens a block, loop or if with no result (or an i32 result for an if used as an expression). */
  open(kind: Op.block | Op.loop | Op.if, result: number = VOID): Label {
    this.out.byte(kind);
    this.out.byte(result);
    return this.depth++;
  }

  /**
   * Opens an `if` that the module's branch hints mark as likely or unlikely taken. V8's optimizing
   * compiler places an unlikely path's code apart and moves the spills it needs (registers saved
   * around a call) into it, off the likely path.
   */
  openHinted(likely: boolean): Label {
    this.hints.push([this.out.length, likely ? 1 : 0]);
    return this.open(Op.if);
  }

  else(): this {
    this.out.byte(Op.else);
    return this;
  }

  close(): this {
    this.out.byte(Op.end);
    this.depth--;
    return this;
  }

  private rel(label: Label): number {
    const d = this.depth - 1 - label;
    if (d < 0) throw new Error(`branch to label ${label} from depth ${this.depth}: not enclosing`);
    return d;
  }

  br(label: Label): this {
    this.out.byte(Op.br);
    this.out.uleb(this.rel(label));
    return this;
  }

  /** br_if, marked in the branch hints as likely or unlikely taken. */
  brIfHinted(label: Label, likely: boolean): this {
    this.hints.push([this.out.length, likely ? 1 : 0]);
    this.out.byte(Op.br_if);
    this.out.uleb(this.rel(label));
    return this;
  }

  brTable(labels: readonly Label[], otherwise: Label): this {
    this.out.byte(Op.br_table);
    this.out.uleb(labels.length);
    for (const l of labels) this.out.uleb(this.rel(l));
    this.out.uleb(this.rel(otherwise));
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

function name(out: Bytes, s: string): void {
  const b = new TextEncoder().encode(s);
  out.uleb(b.length);
  out.bytes(b);
}

function section(out: Bytes, id: number, body: Bytes): void {
  out.byte(id);
  out.uleb(body.length);
  out.bytes(body.view());
}

/** The module's bytes (§5.5). */
export function moduleBytes(spec: ModuleSpec): Uint8Array<ArrayBuffer> {
  const out = new Bytes();
  out.bytes(MAGIC_AND_VERSION);
  const types: FuncType[] = [];
  const typeIndex = (t: FuncType): number => {
    let k = types.findIndex((u) => u.params.join() === t.params.join() && u.results.join() === t.results.join());
    if (k < 0) k = types.push(t) - 1;
    return k;
  };
  const importTypes = spec.importFuncs.map((f) => typeIndex(f.type));
  const funcTypes = spec.funcs.map((f) => typeIndex(f.type));

  const type = new Bytes();
  type.uleb(types.length);
  for (const t of types) {
    type.byte(0x60);
    type.uleb(t.params.length);
    for (const p of t.params) type.byte(p);
    type.uleb(t.results.length);
    for (const r of t.results) type.byte(r);
  }
  section(out, 1, type);

  const imp = new Bytes();
  imp.uleb(1 + spec.importFuncs.length);
  name(imp, 'e');
  name(imp, 'mem');
  imp.byte(0x02);
  imp.byte(0x00);
  imp.uleb(spec.memoryPages);
  spec.importFuncs.forEach((f, k) => {
    name(imp, 'e');
    name(imp, f.name);
    imp.byte(0x00);
    imp.uleb(importTypes[k]!);
  });
  section(out, 2, imp);

  const fn = new Bytes();
  fn.uleb(funcTypes.length);
  for (const t of funcTypes) fn.uleb(t);
  section(out, 3, fn);

  const exp = new Bytes();
  exp.uleb(spec.funcs.length);
  spec.funcs.forEach((f, k) => {
    name(exp, f.name);
    exp.byte(0x00);
    exp.uleb(spec.importFuncs.length + k);
  });
  section(out, 7, exp);

  // The branch hints (WebAssembly branch hinting proposal: the custom section
  // "metadata.code.branch_hint", before the code section), as offsets from each body's start.
  const heads = spec.funcs.map((f) => localsHead(f.locals));
  const hinted = spec.funcs.map((f, k) => ({ index: spec.importFuncs.length + k, hints: f.code.hints, at: heads[k]!.length })).filter((f) => f.hints.length);
  if (hinted.length) {
    const hints = new Bytes();
    name(hints, 'metadata.code.branch_hint');
    hints.uleb(hinted.length);
    for (const f of hinted) {
      hints.uleb(f.index);
      hints.uleb(f.hints.length);
      for (const [offset, likely] of f.hints) {
        hints.uleb(f.at + offset);
        hints.uleb(1);
        hints.byte(likely);
      }
    }
    section(out, 0, hints);
  }

  const code = new Bytes();
  code.uleb(spec.funcs.length);
  spec.funcs.forEach((f, k) => {
    if (f.code.openConstructs !== 0) throw new Error(`function ${f.name}: ${f.code.openConstructs} blocks left open`);
    const head = heads[k]!;
    const body = f.code.bytes;
    // The body's size counts the locals, the instructions and the final end.
    code.uleb(head.length + body.length + 1);
    code.bytes(head.view());
    code.bytes(body);
    code.byte(Op.end);
  });
  section(out, 10, code);
  return out.view().slice();
}

/** A body's local declarations, as runs of one type (§5.5.13). */
function localsHead(locals: readonly number[]): Bytes {
  const runs: [number, number][] = [];
  for (const t of locals) {
    const last = runs[runs.length - 1];
    if (last && last[1] === t) last[0]++;
    else runs.push([1, t]);
  }
  const head = new Bytes();
  head.uleb(runs.length);
  for (const [count, t] of runs) {
    head.uleb(count);
    head.byte(t);
  }
  return head;
}

const MAGIC_AND_VERSION = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
