/**
 * The native backend: the C++ kernels of native/ (OpenBLAS sgemm, scalar/AVX2/AVX-512 kernels)
 * through the N-API addon, loaded with node-gyp-build.
 *
 * The addon checks every argument itself and throws TypeError/RangeError in the library's one
 * error shape, so the wrappers here only forward: they run thousands of times per second on
 * tiny tensors and allocate nothing. The addon takes Float32Array only; a Float64Array gets a
 * TypeError (the tensor layer sends float64 to the reference backend).
 */

import * as path from 'node:path';

import type { AdamOptions, Backend, BinaryOp, FloatArray, SgdOptions } from './backend';
import { debug } from '../debug';

/** A SIMD level of the native kernels, slowest first. */
export type SimdLevel = 'scalar' | 'avx2' | 'avx512';

/** What OpenBLAS reports about itself. */
export interface BlasInfo {
  /** The build configuration, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ... MAX_THREADS=64". */
  config: string;
  /** The CPU core OpenBLAS picked its kernels for, e.g. "Haswell". */
  corename: string;
  /** Threads the matrix products run on. */
  threads: number;
}

/** The native backend's runtime knobs, beyond the kernel contract. */
export interface NativeExtras {
  /** The SIMD level the kernels run at now. */
  simd(): SimdLevel;
  /**
   * Switches the SIMD level for the whole process and returns the level now active: the one
   * asked for, or the best this CPU has below it.
   */
  setSimd(level: string): SimdLevel;
  /** Every SIMD level this CPU and OS support, slowest first. */
  simdLevels(): SimdLevel[];
  /** OpenBLAS's configuration, core and thread count. */
  blasInfo(): BlasInfo;
  /** Sets the number of threads OpenBLAS's matrix products use. */
  setThreads(n: number): void;
}

/** The functions the addon exports (native/binding/addon.cc). */
interface Addon {
  gemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: FloatArray,
    lda: number,
    b: FloatArray,
    ldb: number,
    beta: number,
    c: FloatArray,
    ldc: number,
  ): void;
  binaryForward(
    op: BinaryOp,
    a: FloatArray,
    aShape: readonly number[],
    b: FloatArray,
    bShape: readonly number[],
    out: FloatArray,
    outShape: readonly number[],
  ): void;
  affine(x: FloatArray, alpha: number, beta: number, y: FloatArray, n: number): void;
  expForward(x: FloatArray, y: FloatArray, n: number): void;
  logForward(x: FloatArray, y: FloatArray, n: number): void;
  powScalarForward(x: FloatArray, p: number, y: FloatArray, n: number): void;
  powScalarBackward(x: FloatArray, p: number, gy: FloatArray, gx: FloatArray, n: number): void;
  reluForward(x: FloatArray, y: FloatArray, n: number): void;
  reluBackward(x: FloatArray, gy: FloatArray, gx: FloatArray, n: number): void;
  sigmoidForward(x: FloatArray, y: FloatArray, n: number): void;
  sigmoidBackward(y: FloatArray, gy: FloatArray, gx: FloatArray, n: number): void;
  tanhForward(x: FloatArray, y: FloatArray, n: number): void;
  tanhBackward(y: FloatArray, gy: FloatArray, gx: FloatArray, n: number): void;
  biasAdd(x: FloatArray, bias: FloatArray, rows: number, cols: number, out: FloatArray): void;
  columnSum(x: FloatArray, rows: number, cols: number, out: FloatArray): void;
  reduceSum(x: FloatArray, outer: number, n: number, inner: number, out: FloatArray): void;
  reduceMax(
    x: FloatArray,
    outer: number,
    n: number,
    inner: number,
    out: FloatArray,
    argmax: Int32Array,
  ): void;
  permute(x: FloatArray, shape: readonly number[], perm: readonly number[], out: FloatArray): void;
  softmaxForward(x: FloatArray, rows: number, cols: number, y: FloatArray): void;
  softmaxBackward(y: FloatArray, gy: FloatArray, rows: number, cols: number, gx: FloatArray): void;
  logSoftmaxForward(x: FloatArray, rows: number, cols: number, y: FloatArray): void;
  logSoftmaxBackward(
    y: FloatArray,
    gy: FloatArray,
    rows: number,
    cols: number,
    gx: FloatArray,
  ): void;
  crossEntropyForward(
    logits: FloatArray,
    targets: Int32Array,
    rows: number,
    cols: number,
    probs: FloatArray,
  ): number;
  crossEntropyBackward(
    probs: FloatArray,
    targets: Int32Array,
    rows: number,
    cols: number,
    scale: number,
    gx: FloatArray,
  ): void;
  mseForward(pred: FloatArray, target: FloatArray, n: number): number;
  mseBackward(pred: FloatArray, target: FloatArray, n: number, scale: number, gx: FloatArray): void;
  bceForward(p: FloatArray, y: FloatArray, n: number): number;
  bceBackward(p: FloatArray, y: FloatArray, n: number, scale: number, gx: FloatArray): void;
  bceWithLogitsForward(x: FloatArray, y: FloatArray, n: number): number;
  bceWithLogitsBackward(
    x: FloatArray,
    y: FloatArray,
    n: number,
    scale: number,
    gx: FloatArray,
  ): void;
  sgdStep(
    param: FloatArray,
    grad: FloatArray,
    buf: FloatArray,
    n: number,
    lr: number,
    momentum: number,
    dampening: number,
    weightDecay: number,
    nesterov: boolean,
    firstStep: boolean,
  ): void;
  adamStep(
    param: FloatArray,
    grad: FloatArray,
    m: FloatArray,
    v: FloatArray,
    n: number,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    decoupled: boolean,
    step: number,
  ): void;
  simd(): SimdLevel;
  setSimd(level: string): SimdLevel;
  simdLevels(): SimdLevel[];
  blasInfo(): BlasInfo;
  setThreads(n: number): void;
}

/** Thrown by {@link createNativeBackend} when the addon cannot load; `cause` is the load error. */
export class NativeLoadError extends Error {
  readonly code = 'NODEGRAD_NATIVE_LOAD';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NativeLoadError';
  }
}

// The package root: this file is lib/backend/native.ts, compiled to dist/backend/native.js.
const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');

let addon: Addon | null = null;

function loadAddon(): Addon {
  if (addon !== null) return addon;
  try {
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
    addon = nodeGypBuild(PACKAGE_ROOT) as Addon;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new NativeLoadError(
      `nodegrad: the native addon could not load from ${PACKAGE_ROOT}: ${reason}. ` +
        'Build it with `npm rebuild nodegrad` (needs a C++17 compiler, python3, pkg-config and ' +
        'OpenBLAS: on Debian/Ubuntu `apt-get install build-essential pkg-config libopenblas-dev`).',
      { cause: error },
    );
  }
  reportSimd(addon);
  return addon;
}

/** Says once, on the debug channel and as a warning, when NODEGRAD_SIMD could not be honoured. */
function reportSimd(loaded: Addon): void {
  const requested = process.env.NODEGRAD_SIMD;
  const active = loaded.simd();
  debug('native addon loaded: simd %s (supported: %s)', active, loaded.simdLevels().join(', '));
  if (requested === undefined || requested === '' || requested === active) return;
  const known = requested === 'scalar' || requested === 'avx2' || requested === 'avx512';
  const why = known
    ? `this CPU does not support ${requested}`
    : `expected "scalar", "avx2" or "avx512"`;
  debug('NODEGRAD_SIMD=%s not honoured (%s); using %s', requested, why, active);
  process.emitWarning(
    `nodegrad: NODEGRAD_SIMD=${requested} cannot be used (${why}); running the ${active} kernels.`,
    { code: 'NODEGRAD_SIMD_FALLBACK' },
  );
}

/** The Backend contract over the addon, plus its runtime knobs. Every method only forwards. */
class NativeBackend implements Backend, NativeExtras {
  readonly name = 'native' as const;

  constructor(private readonly a: Addon) {}

  gemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: FloatArray,
    lda: number,
    b: FloatArray,
    ldb: number,
    beta: number,
    c: FloatArray,
    ldc: number,
  ): void {
    this.a.gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }

  binaryForward(
    op: BinaryOp,
    a: FloatArray,
    aShape: readonly number[],
    b: FloatArray,
    bShape: readonly number[],
    out: FloatArray,
    outShape: readonly number[],
  ): void {
    this.a.binaryForward(op, a, aShape, b, bShape, out, outShape);
  }

  affine(x: FloatArray, alpha: number, beta: number, y: FloatArray, n: number): void {
    this.a.affine(x, alpha, beta, y, n);
  }

  expForward(x: FloatArray, y: FloatArray, n: number): void {
    this.a.expForward(x, y, n);
  }

  logForward(x: FloatArray, y: FloatArray, n: number): void {
    this.a.logForward(x, y, n);
  }

  powScalarForward(x: FloatArray, p: number, y: FloatArray, n: number): void {
    this.a.powScalarForward(x, p, y, n);
  }

  powScalarBackward(x: FloatArray, p: number, gy: FloatArray, gx: FloatArray, n: number): void {
    this.a.powScalarBackward(x, p, gy, gx, n);
  }

  reluForward(x: FloatArray, y: FloatArray, n: number): void {
    this.a.reluForward(x, y, n);
  }

  reluBackward(x: FloatArray, gy: FloatArray, gx: FloatArray, n: number): void {
    this.a.reluBackward(x, gy, gx, n);
  }

  sigmoidForward(x: FloatArray, y: FloatArray, n: number): void {
    this.a.sigmoidForward(x, y, n);
  }

  sigmoidBackward(y: FloatArray, gy: FloatArray, gx: FloatArray, n: number): void {
    this.a.sigmoidBackward(y, gy, gx, n);
  }

  tanhForward(x: FloatArray, y: FloatArray, n: number): void {
    this.a.tanhForward(x, y, n);
  }

  tanhBackward(y: FloatArray, gy: FloatArray, gx: FloatArray, n: number): void {
    this.a.tanhBackward(y, gy, gx, n);
  }

  biasAdd(x: FloatArray, bias: FloatArray, rows: number, cols: number, out: FloatArray): void {
    this.a.biasAdd(x, bias, rows, cols, out);
  }

  columnSum(x: FloatArray, rows: number, cols: number, out: FloatArray): void {
    this.a.columnSum(x, rows, cols, out);
  }

  reduceSum(x: FloatArray, outer: number, n: number, inner: number, out: FloatArray): void {
    this.a.reduceSum(x, outer, n, inner, out);
  }

  reduceMax(
    x: FloatArray,
    outer: number,
    n: number,
    inner: number,
    out: FloatArray,
    argmax: Int32Array,
  ): void {
    this.a.reduceMax(x, outer, n, inner, out, argmax);
  }

  permute(x: FloatArray, shape: readonly number[], perm: readonly number[], out: FloatArray) {
    this.a.permute(x, shape, perm, out);
  }

  softmaxForward(x: FloatArray, rows: number, cols: number, y: FloatArray): void {
    this.a.softmaxForward(x, rows, cols, y);
  }

  softmaxBackward(y: FloatArray, gy: FloatArray, rows: number, cols: number, gx: FloatArray) {
    this.a.softmaxBackward(y, gy, rows, cols, gx);
  }

  logSoftmaxForward(x: FloatArray, rows: number, cols: number, y: FloatArray): void {
    this.a.logSoftmaxForward(x, rows, cols, y);
  }

  logSoftmaxBackward(y: FloatArray, gy: FloatArray, rows: number, cols: number, gx: FloatArray) {
    this.a.logSoftmaxBackward(y, gy, rows, cols, gx);
  }

  crossEntropyForward(
    logits: FloatArray,
    targets: Int32Array,
    rows: number,
    cols: number,
    probs: FloatArray,
  ): number {
    return this.a.crossEntropyForward(logits, targets, rows, cols, probs);
  }

  crossEntropyBackward(
    probs: FloatArray,
    targets: Int32Array,
    rows: number,
    cols: number,
    scale: number,
    gx: FloatArray,
  ): void {
    this.a.crossEntropyBackward(probs, targets, rows, cols, scale, gx);
  }

  mseForward(pred: FloatArray, target: FloatArray, n: number): number {
    return this.a.mseForward(pred, target, n);
  }

  mseBackward(pred: FloatArray, target: FloatArray, n: number, scale: number, gx: FloatArray) {
    this.a.mseBackward(pred, target, n, scale, gx);
  }

  bceForward(p: FloatArray, y: FloatArray, n: number): number {
    return this.a.bceForward(p, y, n);
  }

  bceBackward(p: FloatArray, y: FloatArray, n: number, scale: number, gx: FloatArray): void {
    this.a.bceBackward(p, y, n, scale, gx);
  }

  bceWithLogitsForward(x: FloatArray, y: FloatArray, n: number): number {
    return this.a.bceWithLogitsForward(x, y, n);
  }

  bceWithLogitsBackward(x: FloatArray, y: FloatArray, n: number, scale: number, gx: FloatArray) {
    this.a.bceWithLogitsBackward(x, y, n, scale, gx);
  }

  sgdStep(param: FloatArray, grad: FloatArray, buf: FloatArray, n: number, o: SgdOptions) {
    this.a.sgdStep(
      param,
      grad,
      buf,
      n,
      o.lr,
      o.momentum,
      o.dampening,
      o.weightDecay,
      o.nesterov,
      o.firstStep,
    );
  }

  adamStep(
    param: FloatArray,
    grad: FloatArray,
    m: FloatArray,
    v: FloatArray,
    n: number,
    o: AdamOptions,
  ): void {
    this.a.adamStep(
      param,
      grad,
      m,
      v,
      n,
      o.lr,
      o.beta1,
      o.beta2,
      o.eps,
      o.weightDecay,
      o.decoupled,
      o.step,
    );
  }

  simd(): SimdLevel {
    return this.a.simd();
  }

  setSimd(level: string): SimdLevel {
    return this.a.setSimd(level);
  }

  simdLevels(): SimdLevel[] {
    return this.a.simdLevels();
  }

  blasInfo(): BlasInfo {
    return this.a.blasInfo();
  }

  setThreads(n: number): void {
    this.a.setThreads(n);
  }
}

/**
 * The native backend, or a {@link NativeLoadError} (with the load error as its cause and the
 * fixes in its message) when the addon cannot load.
 *
 * @example
 * const native = createNativeBackend();
 * native.setSimd('scalar'); // e.g. to compare against the plain C++ kernels
 * native.reluForward(x, y, x.length);
 */
export function createNativeBackend(): Backend & NativeExtras {
  return new NativeBackend(loadAddon());
}
