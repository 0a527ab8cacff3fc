/**
 * The kernel contract. Every method exists in both backends (native C++ and reference
 * TypeScript) with the same signature and the same results to float32 rounding.
 *
 * Conventions shared by every kernel:
 * - Arrays are dense and row-major. Sizes are passed explicitly; a backend checks that each
 *   array is at least as long as the sizes require and throws RangeError otherwise.
 * - Outputs are written, never accumulated into (autograd does the accumulation), and an
 *   output may alias an input of the same length unless the method says otherwise.
 * - The native backend takes Float32Array only. The reference backend also takes
 *   Float64Array, which is what the finite-difference gradient checks run in.
 * - Reductions that return a number return it in double precision.
 * - Empty work costs nothing: a kernel whose output is empty returns at once, whatever the
 *   other sizes are, and a sum over an empty range is 0.
 */

import type { ConvKernels } from './conv-kernels';
import type { LayerKernels } from './layer-kernels';
import type { NormKernels } from './norm-kernels';
import type { TransformerKernels } from './transformer-kernels';

export type FloatArray = Float32Array | Float64Array;

export type BackendName = 'native' | 'reference';

/** Elementwise binary operations understood by {@link Backend.binaryForward}. */
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div';

/** Hyper-parameters of one SGD update, with PyTorch's meaning for each. */
export interface SgdOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  /** True on the first update of this parameter: the momentum buffer is set to the gradient. */
  firstStep: boolean;
}

/** Hyper-parameters of one Adam or AdamW update, with PyTorch's meaning for each. */
export interface AdamOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** AdamW: decay the weights by lr * weightDecay instead of adding it to the gradient. */
  decoupled: boolean;
  /** The 1-based step count, for bias correction. */
  step: number;
}

/** Hyper-parameters of one RMSprop update, with torch.optim.RMSprop's meaning for each. */
export interface RmspropOptions {
  lr: number;
  /** Smoothing constant of the squared-gradient average. */
  alpha: number;
  eps: number;
  weightDecay: number;
  momentum: number;
  /** Normalise by the estimated variance (square average minus squared mean gradient). */
  centered: boolean;
}

/** Hyper-parameters of one Adagrad update, with torch.optim.Adagrad's meaning for each. */
export interface AdagradOptions {
  lr: number;
  lrDecay: number;
  weightDecay: number;
  eps: number;
  /** The 1-based step count: the learning rate is lr / (1 + (step - 1) * lrDecay). */
  step: number;
}

export interface Backend extends LayerKernels, TransformerKernels, NormKernels, ConvKernels {
  readonly name: BackendName;

  /**
   * C = alpha * op(A) * op(B) + beta * C, with op(X) = X or X^T; row-major, as cblas_sgemm
   * with CblasRowMajor. op(A) is [m, k], op(B) is [k, n], C is [m, n].
   */
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

  /**
   * out = a (op) b with NumPy broadcasting. Shapes have at most 8 dimensions; outShape is the
   * broadcast of aShape and bShape (the caller computes it). out must not alias a or b unless
   * it has the same shape as that input.
   */
  binaryForward(
    op: BinaryOp,
    a: FloatArray,
    aShape: readonly number[],
    b: FloatArray,
    bShape: readonly number[],
    out: FloatArray,
    outShape: readonly number[],
  ): void;

  /** y = alpha * x + beta, elementwise over n elements (neg, scaling, mean's backward). */
  affine(x: FloatArray, alpha: number, beta: number, y: FloatArray, n: number): void;

  /** y = exp(x). */
  expForward(x: FloatArray, y: FloatArray, n: number): void;
  /** y = log(x). */
  logForward(x: FloatArray, y: FloatArray, n: number): void;
  /** y = x ** p for a scalar exponent p, with C's pow rules (1 ** NaN = 1, (-1) ** ±Inf = 1). */
  powScalarForward(x: FloatArray, p: number, y: FloatArray, n: number): void;
  /** gx = gy * p * x ** (p - 1). */
  powScalarBackward(x: FloatArray, p: number, gy: FloatArray, gx: FloatArray, n: number): void;

  /** y = max(x, 0). */
  reluForward(x: FloatArray, y: FloatArray, n: number): void;
  /** gx = gy where x > 0, else 0. */
  reluBackward(x: FloatArray, gy: FloatArray, gx: FloatArray, n: number): void;
  /** y = 1 / (1 + exp(-x)), without overflow for large |x|. */
  sigmoidForward(x: FloatArray, y: FloatArray, n: number): void;
  /** gx = gy * y * (1 - y), from the forward output y. */
  sigmoidBackward(y: FloatArray, gy: FloatArray, gx: FloatArray, n: number): void;
  /** y = tanh(x). */
  tanhForward(x: FloatArray, y: FloatArray, n: number): void;
  /** gx = gy * (1 - y * y), from the forward output y. */
  tanhBackward(y: FloatArray, gy: FloatArray, gx: FloatArray, n: number): void;

  /** out[r, c] = x[r, c] + bias[c] for x of shape [rows, cols]. */
  biasAdd(x: FloatArray, bias: FloatArray, rows: number, cols: number, out: FloatArray): void;
  /** out[c] = sum over r of x[r, c]: the gradient of biasAdd with respect to the bias. */
  columnSum(x: FloatArray, rows: number, cols: number, out: FloatArray): void;

  /**
   * Sum over the middle axis of x viewed as [outer, n, inner]: out[o, i] = sum_j x[o, j, i].
   * out has outer * inner elements.
   */
  reduceSum(x: FloatArray, outer: number, n: number, inner: number, out: FloatArray): void;
  /**
   * Max over the middle axis of x viewed as [outer, n, inner]; argmax receives the index j of
   * the first maximum (NaN counts as the maximum, as in PyTorch). n must be at least 1.
   */
  reduceMax(
    x: FloatArray,
    outer: number,
    n: number,
    inner: number,
    out: FloatArray,
    argmax: Int32Array,
  ): void;

  /** out = x with its axes permuted: out.shape[i] = shape[perm[i]]. out must not alias x. */
  permute(x: FloatArray, shape: readonly number[], perm: readonly number[], out: FloatArray): void;

  /** Row-wise softmax of x [rows, cols], with the row maximum subtracted first. */
  softmaxForward(x: FloatArray, rows: number, cols: number, y: FloatArray): void;
  /** gx = y * (gy - sum_c(gy * y)) row by row. */
  softmaxBackward(y: FloatArray, gy: FloatArray, rows: number, cols: number, gx: FloatArray): void;
  /** Row-wise log-softmax: x - max - log(sum(exp(x - max))). */
  logSoftmaxForward(x: FloatArray, rows: number, cols: number, y: FloatArray): void;
  /** gx = gy - exp(y) * sum_c(gy) row by row, from the forward output y. */
  logSoftmaxBackward(
    y: FloatArray,
    gy: FloatArray,
    rows: number,
    cols: number,
    gx: FloatArray,
  ): void;

  /**
   * Fused softmax + cross-entropy from logits [rows, cols] and class indices. Writes the
   * softmax into probs (kept for the backward) and returns the sum over rows of
   * -log softmax(x)[target]. A target outside [0, cols) throws RangeError.
   */
  crossEntropyForward(
    logits: FloatArray,
    targets: Int32Array,
    rows: number,
    cols: number,
    probs: FloatArray,
  ): number;
  /** gx = scale * (probs - onehot(targets)). */
  crossEntropyBackward(
    probs: FloatArray,
    targets: Int32Array,
    rows: number,
    cols: number,
    scale: number,
    gx: FloatArray,
  ): void;

  /** Returns sum((pred - target)^2) over n elements. */
  mseForward(pred: FloatArray, target: FloatArray, n: number): number;
  /** gx = scale * 2 * (pred - target). */
  mseBackward(pred: FloatArray, target: FloatArray, n: number, scale: number, gx: FloatArray): void;

  /**
   * Returns sum of -(y log p + (1 - y) log(1 - p)) with each log clamped at -100, as PyTorch
   * does, so p = 0 or 1 gives a finite loss.
   */
  bceForward(p: FloatArray, y: FloatArray, n: number): number;
  /** gx = scale * (p - y) / max(p * (1 - p), 1e-12). */
  bceBackward(p: FloatArray, y: FloatArray, n: number, scale: number, gx: FloatArray): void;
  /** Returns sum of max(x, 0) - x * y + log(1 + exp(-|x|)): BCE on sigmoid(x), stably. */
  bceWithLogitsForward(x: FloatArray, y: FloatArray, n: number): number;
  /** gx = scale * (sigmoid(x) - y). */
  bceWithLogitsBackward(
    x: FloatArray,
    y: FloatArray,
    n: number,
    scale: number,
    gx: FloatArray,
  ): void;

  /**
   * One SGD update of n parameters in place, PyTorch's torch.optim.SGD: g = grad + wd * p;
   * with momentum, buf = firstStep ? g : momentum * buf + (1 - dampening) * g, and
   * g = nesterov ? g + momentum * buf : buf; then p -= lr * g. buf is ignored when
   * momentum is 0.
   */
  sgdStep(param: FloatArray, grad: FloatArray, buf: FloatArray, n: number, o: SgdOptions): void;

  /**
   * One Adam/AdamW update of n parameters in place, PyTorch's semantics: bias-corrected
   * moments, eps added outside the square root, AdamW's decay p *= 1 - lr * wd.
   */
  adamStep(
    param: FloatArray,
    grad: FloatArray,
    m: FloatArray,
    v: FloatArray,
    n: number,
    o: AdamOptions,
  ): void;

  /**
   * One RMSprop update of n parameters in place, torch.optim.RMSprop: g = grad + wd * p;
   * squareAvg = alpha * squareAvg + (1 - alpha) * g^2; centered: gradAvg = alpha * gradAvg +
   * (1 - alpha) * g and avg = sqrt(squareAvg - gradAvg^2) + eps, else avg = sqrt(squareAvg) +
   * eps; with momentum, buf = momentum * buf + g / avg and p -= lr * buf, else
   * p -= lr * g / avg. gradAvg is read only when centered, buf only with momentum > 0.
   */
  rmspropStep(
    param: FloatArray,
    grad: FloatArray,
    squareAvg: FloatArray,
    gradAvg: FloatArray,
    buf: FloatArray,
    n: number,
    o: RmspropOptions,
  ): void;

  /**
   * One Adagrad update of n parameters in place, torch.optim.Adagrad: g = grad + wd * p;
   * sum += g^2; p -= lr / (1 + (step - 1) * lrDecay) * g / (sqrt(sum) + eps).
   */
  adagradStep(
    param: FloatArray,
    grad: FloatArray,
    sum: FloatArray,
    n: number,
    o: AdagradOptions,
  ): void;

  /**
   * The LSTM cell after its two matrix products, PyTorch's gate order (i, f, g, o) side by
   * side in each row of pre [batch, 4 * hidden]: gates = (sigmoid, sigmoid, tanh, sigmoid) of
   * pre + bias ([4 * hidden]), c = f * cPrev + i * g, h = o * tanh(c), for cPrev, c and h of
   * [batch, hidden]. gates ([batch, 4 * hidden]) may alias pre.
   */
  lstmCellForward(
    pre: FloatArray,
    bias: FloatArray,
    cPrev: FloatArray,
    batch: number,
    hidden: number,
    gates: FloatArray,
    c: FloatArray,
    h: FloatArray,
  ): void;

  /**
   * The LSTM cell's backward: from the forward's gates, cPrev and c, and the gradients gh and
   * gc of h and c, the gradient dpre of the pre-activations (pre + bias) and gcPrev of cPrev.
   * gcPrev may alias gc.
   */
  lstmCellBackward(
    gates: FloatArray,
    cPrev: FloatArray,
    c: FloatArray,
    gh: FloatArray,
    gc: FloatArray,
    batch: number,
    hidden: number,
    dpre: FloatArray,
    gcPrev: FloatArray,
  ): void;

  /**
   * A whole LSTM layer's recurrence, time-major, in one call (rather than a product and a cell
   * per step). gates [steps, batch, 4 * hidden] holds the input products x_t W_ih^T on entry
   * and the gate activations on return; bias [4 * hidden] is b_ih + b_hh; wHh is [4 * hidden,
   * hidden]; hs and cs [steps + 1, batch, hidden] hold the initial state in row 0 on entry,
   * and rows 1..steps are written. Step t: gates_t += h_t wHh^T, then lstmCellForward from c_t
   * to c_{t+1} and h_{t+1}.
   */
  lstmForward(
    gates: FloatArray,
    bias: FloatArray,
    wHh: FloatArray,
    steps: number,
    batch: number,
    hidden: number,
    hs: FloatArray,
    cs: FloatArray,
  ): void;

  /**
   * The backward through time of lstmForward, from its gates and cs. gh [steps, batch, hidden]
   * is the gradient of h_1..h_steps from outside the layer and is overwritten (it gathers the
   * gradient through wHh); gc [batch, hidden] is the gradient of c_steps on entry and of c_0 on
   * return; dGates [steps, batch, 4 * hidden] receives the gradient of the gate
   * pre-activations. From the last step: gh_t += dGates_{t+1} wHh, then lstmCellBackward.
   */
  lstmBackward(
    gates: FloatArray,
    cs: FloatArray,
    wHh: FloatArray,
    gh: FloatArray,
    steps: number,
    batch: number,
    hidden: number,
    dGates: FloatArray,
    gc: FloatArray,
  ): void;

  /**
   * The parameter gradients of an LSTM layer over all its steps, from lstmBackward's dGates
   * [steps * batch, 4 * hidden]: dWih [4 * hidden, input] = dGates^T x for the layer's input x
   * [steps * batch, input]; dWhh [4 * hidden, hidden] = dGates^T hs for hs [steps * batch,
   * hidden], the states h_0..h_{steps-1}; db [4 * hidden], the column sums of dGates (the
   * gradient of either bias).
   */
  lstmParamGradients(
    dGates: FloatArray,
    x: FloatArray,
    hs: FloatArray,
    steps: number,
    batch: number,
    input: number,
    hidden: number,
    dWih: FloatArray,
    dWhh: FloatArray,
    db: FloatArray,
  ): void;

  /**
   * out[r] = weight[indices[r]] for the n rows of out [n, dim], weight [num, dim]. An index
   * outside [0, num) throws RangeError.
   */
  embeddingForward(
    weight: FloatArray,
    indices: Int32Array,
    n: number,
    dim: number,
    num: number,
    out: FloatArray,
  ): void;

  /**
   * gw [num, dim] = the rows of gy [n, dim] summed into the rows their indices name, rows whose
   * index equals paddingIdx left out (-1, or any number no index equals: none).
   */
  embeddingBackward(
    gy: FloatArray,
    indices: Int32Array,
    n: number,
    dim: number,
    num: number,
    paddingIdx: number,
    gw: FloatArray,
  ): void;
}
