// Source transforms that make per-pipeline variants of a hand-written WGSL kernel: one compute
// entry point kept, module constants set, loops marked `// unroll` expanded, branches decided by
// pipeline flags removed, and constant-indexed private arrays split into variables. `specialize`
// is the one way the ops use them. The kernels stay valid WGSL without them; the transforms exist
// for a compiler that does not do this itself (SwiftShader's) and to cut compile time (llvmpipe's).
// (The helpers every kernel shares live in kernels/prelude.wgsl, added by the runtime.)

/** What makes one variant of a kernel source (see `specialize`). */
export interface Specialization {
  /** The kernel file, for errors. */
  file: string;
  /** Keep only this compute entry point: the others are removed, so the names are unique to it. */
  entry?: string;
  /** Lines tagged with one of these trailing comments (`// dqp`, `// unroll, dqp`) are removed. */
  drop?: string[];
  /** New values for module constants (`const NAME: u32 = 4u;` or `const NAME = 4u;`; each must exist). */
  set?: Record<string, number>;
  /** Pipeline flags that decide `if` chains (specializeBranches). */
  flags?: Record<string, number | boolean>;
  /** Expand the loops marked `// unroll` (and those marked with these extra tags); bounds may use `set`'s names and these. */
  unroll?: { bounds?: Record<string, number>; tags?: string[] };
  /** Private arrays to split into variables after unrolling; 'all' for every `var x: array<...>`. */
  scalarize?: string[] | 'all';
}

const constLine = (name: string): RegExp => new RegExp(`^const ${name}(: u32)? = \\d+u;$`, 'm');

/** The value of the module constant `name` in a kernel source (launch grids read their block sizes this way). */
export function constOf(src: string, name: string, file: string): number {
  const m = new RegExp(`^const ${name}(?:: u32)? = (\\d+)u;$`, 'm').exec(src);
  if (!m) throw new Error(`${file}: no \`const ${name}\` line`);
  return Number(m[1]);
}

/** One variant of a kernel source: the steps of `s` in the order they are listed there. */
export function specialize(src: string, s: Specialization): string {
  if (s.entry) src = onlyEntry(src, s.entry, s.file);
  for (const tag of s.drop ?? []) src = src.replace(new RegExp(`^.*// (unroll, )?${tag}\\n`, 'gm'), '');
  for (const [name, value] of Object.entries(s.set ?? {})) {
    const line = constLine(name);
    if (!line.test(src)) throw new Error(`${s.file}: the \`const ${name}\` line is missing`);
    src = src.replace(line, (l) => l.replace(/= \d+u;$/, `= ${value}u;`));
  }
  if (s.flags) src = specializeBranches(src, s.flags);
  const bounds = { ...s.set, ...s.unroll?.bounds };
  if (s.unroll) {
    for (const tag of s.unroll.tags ?? []) src = src.replace(new RegExp(`// ${tag}$`, 'gm'), '// unroll');
    src = unrollLoops(src, bounds);
  }
  if (s.scalarize) {
    const names = s.scalarize === 'all' ? [...new Set([...src.matchAll(/var (\w+): array</g)].map((m) => m[1]))] : s.scalarize;
    src = scalarizeArrays(src, names, bounds);
  }
  return src;
}

/** The source with every compute entry point but `entry` removed. */
function onlyEntry(src: string, entry: string, file: string): string {
  const head = /@compute @workgroup_size\([^)]*\)\s*fn (\w+)\(/g;
  let out = '';
  let from = 0;
  let found = false;
  for (let m = head.exec(src); m; m = head.exec(src)) {
    const open = src.indexOf('{', m.index + m[0].length); // parameters hold no braces
    let depth = 0, close = open;
    for (let i = open; i < src.length; i++) {
      if (src[i] === '{') depth++;
      else if (src[i] === '}' && --depth === 0) { close = i; break; }
    }
    out += src.slice(from, m.index);
    if (m[1] === entry) { out += src.slice(m.index, close + 1); found = true; }
    from = close + 1;
    head.lastIndex = from;
  }
  if (!found) throw new Error(`${file}: no entry point ${entry}`);
  return out + src.slice(from);
}

/**
 * Expands every `for (var x = 0u; x < BOUND; x++) {` loop whose line carries the comment
 * `// unroll` into BOUND copies of its body, with `x` replaced by each value. BOUND is a literal or
 * a name from `consts`, optionally divided or multiplied by a literal (`TM / 4u`).
 */
export function unrollLoops(src: string, consts: Record<string, number>): string {
  const head = /for \(var (\w+) = 0u; \1 < ([\w ]+?(?:\s*[/*]\s*\d+u)?); \1\+\+\) \{/g;
  const bound = (expr: string): number => {
    const m = /^(\w+?)u?(?:\s*([/*])\s*(\d+)u)?$/.exec(expr.trim());
    if (!m) throw new Error(`unrollLoops: cannot evaluate loop bound '${expr}'`);
    const base = /^\d+$/.test(m[1]) ? Number(m[1]) : consts[m[1]];
    if (base === undefined) throw new Error(`unrollLoops: unknown constant '${m[1]}' in loop bound`);
    const v = !m[2] ? base : m[2] === '/' ? base / Number(m[3]) : base * Number(m[3]);
    if (!Number.isInteger(v) || v < 0) throw new Error(`unrollLoops: loop bound '${expr}' is ${v}`);
    return v;
  };
  for (;;) {
    head.lastIndex = 0;
    let m: RegExpExecArray | null;
    let found: RegExpExecArray | undefined;
    while ((m = head.exec(src))) {
      const lineEnd = src.indexOf('\n', m.index);
      if (src.slice(m.index, lineEnd < 0 ? undefined : lineEnd).includes('// unroll')) { found = m; break; }
    }
    if (!found) return src;
    const open = found.index + found[0].length - 1;
    let depth = 0, close = -1;
    for (let i = open; i < src.length; i++) {
      if (src[i] === '{') depth++;
      else if (src[i] === '}' && --depth === 0) { close = i; break; }
    }
    if (close < 0) throw new Error(`unrollLoops: unbalanced braces after '${found[0]}'`);
    const body = src.slice(open + 1, close);
    const v = new RegExp(`\\b${found[1]}\\b`, 'g');
    const copies = Array.from({ length: bound(found[2]) }, (_, k) => `{${body.replace(v, `${k}u`)}}`);
    src = src.slice(0, found.index) + copies.join(' ') + src.slice(close + 1);
  }
}

/**
 * Removes the branches of `if (COND) { ... } else if (COND) { ... } else { ... }` chains whose
 * conditions are fixed by `flags` (names, `!`, `&&`, `||`, parentheses and `NAME == 2u`), keeping
 * only the taken block's statements. SwiftShader runs both sides of a branch under a lane mask even
 * when its condition is a pipeline constant, so dead load paths would cost as much as live ones.
 */
export function specializeBranches(src: string, flags: Record<string, number | boolean>): string {
  const evalCond = (c: string): boolean | undefined => {
    const tokens = c.match(/\w+|==|&&|\|\||[!()]/g) ?? [];
    if (tokens.join('').replace(/\s/g, '') !== c.replace(/\s/g, '')) return undefined;
    let pos = 0;
    const value = (t: string): number | undefined => {
      const lit = /^(\d+)u?$/.exec(t);
      if (lit) return Number(lit[1]);
      if (!(t in flags)) return undefined;
      return Number(flags[t]);
    };
    const atom = (): number | undefined => {
      const t = tokens[pos++];
      if (t === '!') { const v = atom(); return v === undefined ? undefined : v ? 0 : 1; }
      if (t === '(') { const v = or(); if (tokens[pos++] !== ')') return undefined; return v; }
      const v = value(t);
      if (v !== undefined && tokens[pos] === '==') { pos++; const w = value(tokens[pos++]); return w === undefined ? undefined : v === w ? 1 : 0; }
      return v;
    };
    const and = (): number | undefined => {
      let v = atom();
      while (tokens[pos] === '&&') { pos++; const w = atom(); v = v === undefined || w === undefined ? undefined : v && w ? 1 : 0; }
      return v;
    };
    const or = (): number | undefined => {
      let v = and();
      while (tokens[pos] === '||') { pos++; const w = and(); v = v === undefined || w === undefined ? undefined : v || w ? 1 : 0; }
      return v;
    };
    const v = or();
    return v === undefined || pos !== tokens.length ? undefined : v !== 0;
  };
  const matchClose = (open: string, close: string, at: number): number => {
    let depth = 0;
    for (let i = at; i < src.length; i++) {
      if (src[i] === open) depth++;
      else if (src[i] === close && --depth === 0) return i;
    }
    throw new Error(`specializeBranches: unbalanced '${open}' at ${at}`);
  };
  const ifRe = /(^|[^\w])if \(/g;
  let from = 0;
  for (;;) {
    ifRe.lastIndex = from;
    const m = ifRe.exec(src);
    if (!m) return src;
    const start = m.index + m[1].length;
    // Parse the chain: (cond, block) pairs and an optional final else block.
    const arms: { cond: string | null; body: string }[] = [];
    let p = start;
    for (;;) {
      let cond: string | null = null;
      if (src.startsWith('if (', p)) {
        const cOpen = p + 3, cClose = matchClose('(', ')', cOpen);
        cond = src.slice(cOpen + 1, cClose);
        p = cClose + 1;
      }
      while (src[p] === ' ') p++;
      if (src[p] !== '{') { arms.length = 0; break; }
      const bClose = matchClose('{', '}', p);
      arms.push({ cond, body: src.slice(p + 1, bClose) });
      p = bClose + 1;
      if (cond === null) break;
      const rest = /^\s*else\s+/.exec(src.slice(p));
      if (!rest) break;
      p += rest[0].length;
    }
    const known = arms.length > 0 && arms.every((a) => a.cond === null || evalCond(a.cond) !== undefined);
    if (!known) { from = start + 3; continue; }
    const taken = arms.find((a) => a.cond === null || evalCond(a.cond));
    const replacement = taken ? `{${taken.body}}` : '';
    src = src.slice(0, start) + replacement + src.slice(p);
    from = start;
  }
}

/** The value of an index expression made of unsigned literals, `+` and `*` (else undefined). */
function constInt(expr: string): number | undefined {
  if (!/^[\d\su+*]+$/.test(expr)) return undefined;
  let sum = 0;
  for (const term of expr.split('+')) {
    let prod = 1;
    for (const f of term.split('*')) {
      const m = /^\s*(\d+)u?\s*$/.exec(f);
      if (!m) return undefined;
      prod *= Number(m[1]);
    }
    sum += prod;
  }
  return sum;
}

/**
 * Replaces each private array named in `names` (declared `var x: array<T, N>;` or
 * `var x: array<array<T, N2>, N1>;` with N, N1, N2 literals or names in `consts`) by one variable per
 * element, after unrolling has left only constant indices (`x[3u]`, `x[3u][5u]`). Some compilers
 * (SwiftShader's) keep arrays in memory even when every index is constant.
 */
export function scalarizeArrays(src: string, names: string[], consts: Record<string, number>): string {
  const size = (t: string): number => {
    const v = /^\d+u?$/.test(t) ? parseInt(t, 10) : consts[t];
    if (v === undefined) throw new Error(`scalarizeArrays: unknown array size '${t}'`);
    return v;
  };
  src = src.replace(/\/\/[^\n]*/g, ''); // comments may mention the arrays
  for (const name of names) {
    const decl = new RegExp(`var ${name}: array<(?:array<(\\w+), (\\w+)>|(\\w+)), (\\w+)>;`);
    const d = decl.exec(src);
    if (!d) throw new Error(`scalarizeArrays: no declaration of '${name}'`);
    const [elem, inner] = d[1] ? [d[1], size(d[2])] : [d[3], 0];
    const outer = size(d[4]);
    const vars: string[] = [];
    for (let i = 0; i < outer; i++) {
      if (inner) for (let j = 0; j < inner; j++) vars.push(`var ${name}_${i}_${j}: ${elem};`);
      else vars.push(`var ${name}_${i}: ${elem};`);
    }
    // An array declared inside an unrolled loop is declared once per copy, each in its own scope.
    src = src.replace(new RegExp(decl.source, 'g'), vars.join(' '));
    const access = inner ? new RegExp(`\\b${name}\\[([^\\]]+)\\]\\[([^\\]]+)\\]`, 'g') : new RegExp(`\\b${name}\\[([^\\]]+)\\]`, 'g');
    src = src.replace(access, (whole: string, i: string, j: unknown) => {
      const ii = constInt(i), jj = inner ? constInt(j as string) : 0;
      if (ii === undefined || jj === undefined) return whole;
      return inner ? `${name}_${ii}_${jj}` : `${name}_${ii}`;
    });
    if (new RegExp(`\\b${name}\\[`).test(src)) throw new Error(`scalarizeArrays: '${name}' is still indexed by a non-constant`);
  }
  return src;
}
