import type { Backend, FloatArray } from '../backend/backend';
import { getBackend } from '../backend';
import { referenceBackend } from '../backend/reference';

/**
 * How much work a kernel call does, from its arguments (positionally, as the kernel takes
 * them), and the most work at which the reference backend's TypeScript loop beats a call into
 * the addon (measured in bench/NOTES.md: a native call costs 0.1-1 µs before any arithmetic,
 * binaryForward the most as it reads two shape arrays).
 */
type Work = (a0: any, a1: any, a2: any, a3: any, a4: any, a5: any) => number;
type SmallRule = [work: Work, limit: number];

const arg2: Work = (_0, _1, n) => n;
const arg3: Work = (_0, _1, _2, n) => n;
const arg4: Work = (_0, _1, _2, _3, n) => n;
const rows1cols2: Work = (_0, rows, cols) => rows * cols;
const rows2cols3: Work = (_0, _1, rows, cols) => rows * cols;
const outer1n2inner3: Work = (_0, outer, n, inner) => outer * n * inner;

const SMALL_RULES: Partial<Record<keyof Backend, SmallRule>> = {
  gemm: [(_0, _1, m, n, k) => m * n * k, 64],
  binaryForward: [(_0, _1, _2, _3, _4, out) => (out as FloatArray).length, 64],
  affine: [arg4, 16],
  expForward: [arg2, 16],
  logForward: [arg2, 16],
  powScalarForward: [arg3, 16],
  powScalarBackward: [arg4, 16],
  reluForward: [arg2, 16],
  reluBackward: [arg3, 16],
  sigmoidForward: [arg2, 16],
  sigmoidBackward: [arg3, 16],
  tanhForward: [arg2, 16],
  tanhBackward: [arg3, 16],
  biasAdd: [rows2cols3, 64],
  columnSum: [rows1cols2, 64],
  reduceSum: [outer1n2inner3, 64],
  reduceMax: [outer1n2inner3, 64],
  permute: [(x) => (x as FloatArray).length, 64],
  softmaxForward: [rows1cols2, 64],
  softmaxBackward: [rows2cols3, 64],
  logSoftmaxForward: [rows1cols2, 64],
  logSoftmaxBackward: [rows2cols3, 64],
  crossEntropyForward: [rows2cols3, 64],
  crossEntropyBackward: [rows2cols3, 64],
  mseForward: [arg2, 64],
  mseBackward: [arg2, 64],
  bceForward: [arg2, 64],
  bceBackward: [arg2, 64],
  bceWithLogitsForward: [arg2, 64],
  bceWithLogitsBackward: [arg2, 64],
  sgdStep: [arg3, 64],
  adamStep: [arg4, 32],
};

type Kernel = (...args: any[]) => unknown;

/**
 * Whether backendFor() sends this call of a kernel to the reference backend when the native
 * one is selected (for tests and the benchmark's notes).
 */
export function runsInTypeScript(kernel: keyof Backend, args: readonly unknown[]): boolean {
  const rule = SMALL_RULES[kernel];
  return (
    rule !== undefined && rule[0](args[0], args[1], args[2], args[3], args[4], args[5]) <= rule[1]
  );
}

/**
 * The native backend with its small calls sent to the reference backend, which computes the
 * same results to float32 rounding: a 2-2-1 network's every kernel is a few elements, and
 * there the price of crossing into C++ is most of the time. Kernels without a rule (ones added
 * later) always run natively.
 */
function sizeDispatched(native: Backend): Backend {
  const routed: Record<string, unknown> = { ...native };
  for (const [name, [work, limit]] of Object.entries(SMALL_RULES) as [string, SmallRule][]) {
    const small = (referenceBackend as unknown as Record<string, Kernel>)[name];
    const big = (native as unknown as Record<string, Kernel>)[name];
    // Thirteen positional parameters (gemm's count) rather than ...rest: no array per call;
    // a kernel ignores the undefined ones past its own.
    routed[name] = (
      a0: any,
      a1: any,
      a2: any,
      a3: any,
      a4: any,
      a5: any,
      a6: any,
      a7: any,
      a8: any,
      a9: any,
      a10: any,
      a11: any,
      a12: any,
    ) =>
      work(a0, a1, a2, a3, a4, a5) <= limit
        ? small.call(referenceBackend, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12)
        : big.call(native, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12);
  }
  return routed as unknown as Backend;
}

let routedFor: Backend | null = null;
let routed: Backend | null = null;

/**
 * The backend that computes on these data: float64 always runs on the reference backend
 * (the native kernels are float32), float32 on the selected one, with calls too small to be
 * worth the native call sent to the reference backend.
 */
export function backendFor(data: FloatArray): Backend {
  if (data instanceof Float64Array) return referenceBackend;
  const backend = getBackend();
  if (backend === referenceBackend) return backend;
  if (routedFor !== backend) {
    routed = sizeDispatched(backend);
    routedFor = backend;
  }
  return routed!;
}

/** A float32 array from this many elements up is allocated without zeroing by allocOutput. */
const UNZEROED_FROM = 4096;

/**
 * A new array of like's element type for a kernel that writes every element of it: as
 * allocLike, but a large float32 one comes without the zeroing (Buffer.allocUnsafeSlow). A GPT
 * step allocates ~90 MB of outputs, whose memset was 5% of the step (bench/NOTES.md, W6). Only
 * for outputs a kernel overwrites whole: a product with beta 0, an elementwise map, a
 * normalisation; never for one that is accumulated into.
 */
export function allocOutput(like: FloatArray, n: number): FloatArray {
  if (n < UNZEROED_FROM || like instanceof Float64Array) return allocLike(like, n);
  const reused = spares.get(n)?.pop();
  if (reused !== undefined) {
    spareBytes -= reused.byteLength;
    return reused;
  }
  const bytes = Buffer.allocUnsafeSlow(4 * n);
  return new Float32Array(bytes.buffer, bytes.byteOffset, n);
}

/**
 * Arrays that nothing refers to any more, by length, for allocOutput to hand out again: the
 * backward pass gives back the gradients it has passed on (engine.ts). Every array V8 does not
 * have to allocate is external memory that does not push it into a garbage collection: a GPT
 * step allocated ~90 MB and ran ~5 collections (bench/NOTES.md, W6).
 */
const spares = new Map<number, Float32Array[]>();
let spareBytes = 0;
/**
 * The most memory kept for reuse; past it, arrays are left to the garbage collector. A GPT
 * step (bench/NOTES.md, W6) gives back ~40 MB of forward activations at the end of its
 * backward pass, on top of the gradients given back during it.
 */
const SPARE_BYTES_KEPT = 128 * 2 ** 20;

/**
 * Whether recycle() would keep an array of this type and length. Asked first because reading a
 * small typed array's .buffer makes V8 move its data off the heap: that cost a 2-2-1 network's
 * step a quarter of its time.
 */
export function recyclable(array: FloatArray): array is Float32Array {
  return array instanceof Float32Array && array.length >= UNZEROED_FROM;
}

/**
 * Hands an array to allocOutput for reuse. The caller guarantees that nothing reads or writes
 * it afterwards and that it is given back once. Only whole float32 arrays (not views into a
 * larger buffer) of allocOutput's sizes are kept.
 */
export function recycle(array: FloatArray): void {
  if (!recyclable(array)) return;
  if (array.byteOffset !== 0 || array.buffer.byteLength !== array.byteLength) return;
  if (spareBytes + array.byteLength > SPARE_BYTES_KEPT) return;
  let list = spares.get(array.length);
  if (list === undefined) {
    list = [];
    spares.set(array.length, list);
  }
  list.push(array);
  spareBytes += array.byteLength;
}

/**
 * A zeroed array of like's element type, as allocLike, for a kernel that accumulates into it:
 * a large float32 one may be a reused array that this zeroes.
 */
export function allocZeroed(like: FloatArray, n: number): FloatArray {
  if (n < UNZEROED_FROM || like instanceof Float64Array) return allocLike(like, n);
  return allocOutput(like, n).fill(0);
}

/** A new zeroed array of the same element type as like. */
export function allocLike(like: FloatArray, n: number): FloatArray {
  return like instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
}

/**
 * C = op(A) · op(B) for dense row-major matrices (op(A) is [m, k], op(B) is [k, n], C is
 * [m, n]), with the leading dimensions their stored shapes imply. A leading dimension is at
 * least 1 even when the matrix is empty, as BLAS requires, so [2, 0] · [0, 3] gives zeros.
 */
export function matmulInto(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  a: FloatArray,
  b: FloatArray,
  c: FloatArray,
): void {
  const lda = Math.max(1, transA ? m : k);
  const ldb = Math.max(1, transB ? k : n);
  backendFor(c).gemm(transA, transB, m, n, k, 1, a, lda, b, ldb, 0, c, Math.max(1, n));
}
