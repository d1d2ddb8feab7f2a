// Every per-adapter choice of the engine in one place: the work splits of the matmul, attention and
// fused-shift kernels, the convolution kernels' variant, and how many dispatches go into one queue
// submission, each measured on the adapter it is for (the measurements are noted with each table).
// The kinds are what the adapter is: a hardware GPU ('gpu': Dawn on Vulkan, or a browser's
// adapter that is neither software renderer), llvmpipe (Mesa's LLVM rasterizer on the CPU cores)
// and SwiftShader (Google's CPU Vulkan). One way to override any of it, for tests and benchmarks:
// setTuning, one section at a time.
import { engine } from './engine.js';

export type AdapterKind = 'gpu' | 'llvmpipe' | 'swiftshader';

/**
 * Register blocking per adapter kind: the outputs per invocation (tm × tn), the workgroup size, and
 * whether the marked loops are unrolled in the source (and the private arrays split into variables)
 * before compiling. Measured at 1024³ and at the ViT shapes, interleaving the variants (bench/kernels.ts
 * and docs/design.md): on llvmpipe 32×16 beats 16×16 by 15-25% and 8×8 by 2×, while 48×16 and up fall off
 * a cliff (spills); Mesa unrolls the loops itself, and unrolling them in the source only adds compile
 * time. SwiftShader leaves loops as loops over memory arrays (4× slower), so the source is unrolled;
 * there 8×8 edges out 16×16 (about 10%) and compiles faster. A real GPU keeps its registers for
 * occupancy.
 */
export interface MatmulTiling {
  tm: number; tn: number; wg: number; unroll: boolean;
  /**
   * The workgroup-tiled kernel (8×8 invocations share a (8·tm)×(8·tn) block of C through workgroup
   * memory; wg is then 64). A GPU's workgroup memory is on-chip and saves each invocation its own
   * reads of A and B; the software adapters run its barriers as thread switches, so they keep the
   * register kernel (tests force this one there). Not measured on a GPU yet: bench/gpu/run.sh does.
   */
  tiled: boolean;
  /**
   * Operands whose rows run along K read through rgba32float textures copied from their buffers
   * (register kernel, single matrices, K a multiple of 4). On llvmpipe a texture load is a
   * vectorized gather, a storage load a loop over the lanes: x·Wᵀ at [4096×192]·[192×576] went from
   * 28 to 39 GFLOP/s and 1024³ from 31 to 42, copies included (paired runs, quiet machine).
   */
  textures: boolean;
  /**
   * Multiply-adds (M·N·K) below which a matmul keeps its operands in storage buffers even so:
   * filling a texture is a copy or dispatch of its own, and for the shipped small models' matmuls
   * (25-60 M multiply-adds) those cost more than the faster loads save (a whole purification
   * benchmark ran 1.18× slower with every matmul on textures; from 512³ = 134 M up they gain 20-60%).
   */
  textureMinWork: number;
  /**
   * The block (tm, tn) when B alone is read through a texture a frozen model holds (and (tn, tm) for
   * A alone): the longer side goes to the operand whose loads are cheap. On llvmpipe, the CIFAR-10
   * MAE's purification step (bench/results/held-*-llvmpipe.json, interleaved A/B): 16×32 beats 32×16
   * by 3%, 16×16 by 8%, and 8×64 runs 4× slower (spills).
   */
  heldTile: [number, number];
  /**
   * Operands stored in half precision for the product (packed two per u32 by a conversion pass,
   * read with WGSL's unpack2x16float, accumulated in f32): half the bytes per operand load, at
   * about 1e-3 relative error (and operand values beyond ±65504 become infinite). Off on every
   * adapter by default, since it changes the numbers every model and test is checked against;
   * bench/gpu/run.sh times it on a hardware GPU.
   */
  f16: boolean;
}
const MATMUL: Record<AdapterKind, MatmulTiling> = {
  llvmpipe: { tm: 32, tn: 16, wg: 64, unroll: false, tiled: false, textures: true, textureMinWork: 1 << 27, heldTile: [16, 32], f16: false },
  swiftshader: { tm: 8, tn: 8, wg: 64, unroll: true, tiled: false, textures: false, textureMinWork: 1 << 27, heldTile: [8, 8], f16: false },
  gpu: { tm: 4, tn: 4, wg: 64, unroll: true, tiled: true, textures: false, textureMinWork: 1 << 27, heldTile: [4, 4], f16: false },
};

/**
 * Work split per adapter. Each invocation owns a chunk of R rows of one (b, h) pair (queries, or keys
 * in the dK/dV kernel) and walks the other side KB rows at a time. On llvmpipe a storage load costs
 * per lane and per 32-bit word, whatever the address pattern (a uniform address is no cheaper, nor
 * a texture), so the time follows how many chunks read all of K and V, and R is made large: the rows
 * split evenly over the fewest chunks of at most rmax rows (at d = 64; scaled by 64/d, at most rcap).
 * Measured at B 32, H 3, N 65, d 64, CPU time of the llvmpipe threads: forward 18.5 ms with 17
 * chunks of 4 rows, 9.5 with 8 of 9, 7.0 with 3 of 22; forward + backward 38 ms with backward chunks
 * of 9 rows, 30.5 with 17. The price is compile time, which grows faster than R: on first use
 * llvmpipe takes about 26 s for the forward at R 22 and two minutes for the backward at R 17 (Mesa's
 * shader cache keeps them for later runs). SwiftShader compiles far more slowly: at R 9 and d 64 the
 * three kernels had not compiled after 17 CPU-minutes, at R 4 they take about 5 s (fwd + bwd at
 * B 32, H 3, N 65: 298 ms against 445 at R 2 and 363 for the composed path), so it stays at R 4.
 * A GPU wants many small invocations instead (R = 1).
 */
export interface AttentionTiling {
  wg: number;
  /** Largest R at d = 64 (scaled by 64/d, at most rcap), per kernel. */
  rmaxFwd: number; rmaxDq: number; rmaxDkv: number;
  rcap: number;
  /** Keys (queries) per step, per kernel. */
  kbFwd: number; kbDq: number; kbDkv: number;
  /** Unroll the loops over d/4 in the source (else the adapter's compiler decides). */
  unrollD: boolean;
  /**
   * Unroll everything and turn the private arrays into scalar variables in the source (for
   * compilers that keep arrays in memory even when every index is constant, as SwiftShader's).
   * llvmpipe unrolls and promotes them itself: no difference there, in run or compile time.
   */
  scalarize: boolean;
  /**
   * dQ from the dK/dV kernel, as one partial sum per key chunk (summed afterwards), instead of a
   * separate dQ kernel that recomputes S and dP. Pays where chunks are few (large R); a GPU with R = 1
   * would write Nk partial copies of dQ. Not used when the bias needs a gradient (the dQ kernel
   * writes dS for it).
   */
  dqPartial: boolean;
  /** A fixed R for every kernel (tests: work splits that do not divide N). */
  r?: number;
}
const ATTENTION: Record<AdapterKind, AttentionTiling> = {
  llvmpipe: { wg: 8, rmaxFwd: 24, rmaxDq: 17, rmaxDkv: 17, rcap: 32, kbFwd: 2, kbDq: 2, kbDkv: 2, unrollD: false, scalarize: true, dqPartial: true },
  swiftshader: { wg: 8, rmaxFwd: 4, rmaxDq: 4, rmaxDkv: 4, rcap: 8, kbFwd: 2, kbDq: 2, kbDkv: 2, unrollD: false, scalarize: true, dqPartial: true },
  gpu: { wg: 64, rmaxFwd: 1, rmaxDq: 1, rmaxDkv: 1, rcap: 1, kbFwd: 4, kbDq: 4, kbDkv: 4, unrollD: false, scalarize: false, dqPartial: false },
};

/**
 * Work split of the shift kernel per adapter: TR query rows per invocation, 4·TC4 keys per block,
 * WG invocations per workgroup (one batch entry per workgroup). Per vec4 step of the head dimension
 * an invocation loads TR + 4·TC4 vec4s per operand pair for 16·TR·TC4 multiply-adds, so larger
 * blocks feed more work per load (a load is a loop over the SIMD lanes on the software adapters)
 * until the accumulators spill, while ragged ends (N, M = 65, 197) waste more of a larger block.
 * Measured (TR × 4·TC4) at B 32, H 3, d 64 in process CPU time, the machine being shared: on
 * llvmpipe 8×16 took 22 ms at N = 65 and 137 ms at N = 197, 8×8 23 / 150 ms, 4×8 26 / 181 ms; on
 * SwiftShader 16×16 162 / 821 ms, 8×16 184 / 867 ms, 16×8 194 / 940 ms. The same FLOPs as one
 * engine matmul [96, N, 128]·[96, N, 128]ᵀ took 19 / 88 ms (llvmpipe) and 127 / 604 ms
 * (SwiftShader). Workgroup size hardly matters (8 is one llvmpipe SIMD width).
 */
export interface ShiftTiling {
  tr: number; tc4: number; wg: number;
  /**
   * Pack [dQ, Q] and [K, dK] first so that the kernel binds 4 storage buffers (the compatibility
   * budget), instead of reading the 4 operands in place with 6. Chosen when the adapter allows
   * fewer than 6 storage buffers per stage.
   */
  packed?: boolean;
}
const SHIFT: Record<AdapterKind, ShiftTiling> = {
  llvmpipe: { tr: 8, tc4: 4, wg: 8 },
  swiftshader: { tr: 16, tc4: 4, wg: 8 },
  // Not measured on a GPU yet: small blocks, many invocations.
  gpu: { tr: 2, tc4: 1, wg: 64 },
};

/**
 * The convolution kernels. 'blocked': 16 channels × 16 pixels per invocation with pre-arranged
 * weights for the forward and the stride-1 input gradient, and 16 × 2 channels × all taps for the
 * weight gradient (llvmpipe: 11-13 GFLOP/s against 4-6 for the 8×8 kernels at ResNet-20 shapes).
 * 'registers': 8×8 blocks in loops over small arrays. 'matrices': the same 8×8 blocks held in
 * mat4x4f accumulators, for SwiftShader, which keeps such arrays in memory (5× slower there), and
 * whose compiler does not finish the fully unrolled blocked kernels (over 20 GB of memory at test
 * shapes before it was stopped): it never gets them.
 */
export type ConvVariant = 'blocked' | 'registers' | 'matrices';
const CONV: Record<AdapterKind, ConvVariant> = { llvmpipe: 'blocked', swiftshader: 'matrices', gpu: 'registers' };

/**
 * Row reductions (layer norm's vec4 forward and dx) with one workgroup per row and subgroup sums,
 * where the device has the `subgroups` feature ('subgroups'), or one invocation per row looping
 * over it ('loop'). The software adapters keep the loop: a workgroup barrier costs 4× on llvmpipe
 * and far more on SwiftShader (docs/design.md), and llvmpipe has no subgroups. Not measured on a GPU yet.
 */
export type RowReduction = 'loop' | 'subgroups';
const ROWS: Record<AdapterKind, RowReduction> = { llvmpipe: 'loop', swiftshader: 'loop', gpu: 'subgroups' };

/**
 * Dispatches per queue submission: large enough to amortize a submit, small enough to keep the
 * device fed while the host records more.
 */
const SUBMIT_BATCH: Record<AdapterKind, number> = { llvmpipe: 48, swiftshader: 48, gpu: 48 };

export interface Tuning {
  matmul: MatmulTiling;
  attention: AttentionTiling;
  shift: ShiftTiling;
  conv: ConvVariant;
  rows: RowReduction;
  submitBatch: number;
}

/** Per section: fields replacing the adapter's (partial for the work splits). */
export interface TuningOverride {
  matmul?: Partial<MatmulTiling>;
  attention?: Partial<AttentionTiling>;
  shift?: Partial<ShiftTiling>;
  conv?: ConvVariant;
  rows?: RowReduction;
  submitBatch?: number;
}

const SECTIONS = { matmul: 1, attention: 1, shift: 1, conv: 1, rows: 1, submitBatch: 1 };
let override: TuningOverride = {};

/** The adapter kind's defaults, for any kind (documentation, tests). */
export function tuningFor(kind: AdapterKind): Tuning {
  return { matmul: MATMUL[kind], attention: ATTENTION[kind], shift: SHIFT[kind], conv: CONV[kind], rows: ROWS[kind], submitBatch: SUBMIT_BATCH[kind] };
}

/** The choices in force: the running adapter's defaults with the override on top. */
export function tuning(): Tuning {
  const base = tuningFor(engine().gpu.kind);
  return {
    matmul: { ...base.matmul, ...override.matmul },
    attention: { ...base.attention, ...override.attention },
    shift: { ...base.shift, ...override.shift },
    conv: override.conv ?? base.conv,
    rows: override.rows ?? base.rows,
    submitBatch: override.submitBatch ?? base.submitBatch,
  };
}

/**
 * Overrides sections of the tuning: each section named replaces that section's override (a
 * section given as undefined restores its defaults); setTuning() restores everything.
 */
export function setTuning(o?: TuningOverride): void {
  if (!o) { override = {}; return; }
  const keys = Object.keys(o) as (keyof TuningOverride)[];
  for (const key of keys) {
    if (!(key in SECTIONS)) throw new Error(`setTuning: unknown section '${String(key)}' (${Object.keys(SECTIONS).join(', ')})`);
  }
  if (o.conv !== undefined && !['blocked', 'registers', 'matrices'].includes(o.conv)) {
    throw new Error(`setTuning: conv must be blocked, registers or matrices, got '${o.conv}'`);
  }
  if (o.rows !== undefined && !['loop', 'subgroups'].includes(o.rows)) {
    throw new Error(`setTuning: rows must be loop or subgroups, got '${o.rows}'`);
  }
  for (const key of keys) {
    if (o[key] === undefined) delete override[key];
    else (override as Record<string, unknown>)[key] = o[key];
  }
}

/** The submission batch for an adapter kind (the runtime asks per dispatch: no object built). */
export function submitBatchFor(kind: AdapterKind): number { return override.submitBatch ?? SUBMIT_BATCH[kind]; }
