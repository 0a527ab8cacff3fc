/**
 * Functional forms of the layers and losses, with fused kernels where a network spends its
 * time: linear is one GEMM and one bias pass, crossEntropy one softmax-and-log pass.
 */
import { allocLike, allocOutput, backendFor, matmulInto } from '../autograd/dispatch';
import * as ops from '../autograd/ops';
import { record } from '../autograd/engine';
import type { FloatArray } from '../backend/backend';
import { describe, rangeError, shapeString, typeError, verbatim } from '../errors';
import { numel, sameShape } from '../tensor/shape';
import { Tensor } from '../tensor/tensor';

export { relu, sigmoid, tanh, softmax, logSoftmax } from '../autograd/ops';
export { layerNorm, gelu } from '../autograd/ops-transformer';
export { batchNorm } from '../autograd/ops-norm';
export { dropout } from '../autograd/ops-dropout';
export type { GeluApproximate } from '../autograd/ops-transformer';
export { conv1d, conv2d } from '../autograd/ops-conv';
export { maxPool2d, avgPool2d, adaptiveAvgPool2d } from '../autograd/ops-pool';

export type Reduction = 'mean' | 'sum' | 'none';

/**
 * y = x W^T + b, as torch.nn.functional.linear: x is [*, in] (any leading dimensions, which
 * are one batch to the matrix product since the data is row-major), the result [*, out].
 *
 * @example
 * const y = linear(x, weight, bias); // x [batch, in], weight [out, in], bias [out]
 */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  checkLinearShapes(x, weight, bias);
  const [outFeatures, inFeatures] = weight.shape;
  const batch = numel(x.shape.slice(0, -1));
  const backend = backendFor(x.data);
  const y = new Tensor(allocOutput(x.data, batch * outFeatures), [
    ...x.shape.slice(0, -1),
    outFeatures,
  ]);
  matmulInto(false, true, batch, outFeatures, inFeatures, x.data, weight.data, y.data);
  if (bias !== null) backend.biasAdd(y.data, bias.data, batch, outFeatures, y.data);

  const inputs = bias === null ? [x, weight] : [x, weight, bias];
  return record(y, 'linear', inputs, (g) => {
    const be = backendFor(g);
    let gx: FloatArray | null = null;
    let gw: FloatArray | null = null;
    let gb: FloatArray | null = null;
    if (x.requiresGrad) {
      gx = allocOutput(g, batch * inFeatures); // dX = G W
      matmulInto(false, false, batch, inFeatures, outFeatures, g, weight.data, gx);
    }
    if (weight.requiresGrad) {
      gw = allocOutput(g, outFeatures * inFeatures); // dW = G^T X
      matmulInto(true, false, outFeatures, inFeatures, batch, g, x.data, gw);
    }
    if (bias?.requiresGrad) {
      gb = allocLike(g, outFeatures); // db = column sums of G
      be.columnSum(g, batch, outFeatures, gb);
    }
    return [gx, gw, gb];
  });
}

function checkLinearShapes(x: Tensor, weight: Tensor, bias: Tensor | null): void {
  if (!(x instanceof Tensor)) throw typeError('linear(input)', 'a Tensor', x);
  if (!(weight instanceof Tensor) || weight.ndim !== 2) {
    throw typeError('linear(weight)', 'a 2-D Tensor [out, in]', weight);
  }
  const [outFeatures, inFeatures] = weight.shape;
  if (x.ndim < 1 || x.shape[x.ndim - 1] !== inFeatures) {
    throw new RangeError(
      `linear: expected input of shape [*, ${inFeatures}], received ${shapeString(x.shape)}`,
    );
  }
  if (bias !== null && (!(bias instanceof Tensor) || !sameShape(bias.shape, [outFeatures]))) {
    throw rangeError('linear(bias)', `a Tensor of shape [${outFeatures}]`, bias?.shape ?? bias);
  }
  if (x.dtype !== weight.dtype || (bias !== null && bias.dtype !== weight.dtype)) {
    throw rangeError(
      'linear',
      `input, weight and bias of one dtype`,
      `${x.dtype}, ${weight.dtype}`,
    );
  }
}

function checkReduction(where: string, reduction: unknown): Reduction {
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') {
    throw typeError(`${where}(reduction)`, "'mean', 'sum' or 'none'", reduction);
  }
  return reduction;
}

/** The index of the first NaN or infinity, or -1; a plain loop, as every loss call runs it. */
function firstNonFinite(data: FloatArray): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return i;
  return -1;
}

/** Throws unless target matches input's shape and dtype and holds no NaN or infinity. */
function checkTarget(where: string, input: Tensor, target: Tensor): void {
  if (!(input instanceof Tensor)) throw typeError(`${where}(input)`, 'a Tensor', input);
  if (!(target instanceof Tensor)) throw typeError(`${where}(target)`, 'a Tensor', target);
  if (!sameShape(input.shape, target.shape) || input.dtype !== target.dtype) {
    throw new RangeError(
      `${where}: expected a ${input.dtype} target of shape ${shapeString(input.shape)} ` +
        `(the input's), received ${target.dtype} ${shapeString(target.shape)}`,
    );
  }
  const bad = firstNonFinite(target.data);
  if (bad >= 0) {
    throw rangeError(
      `${where}(target)`,
      `finite values`,
      verbatim(`${describe(target.data[bad])} at index ${bad}`),
    );
  }
}

/**
 * A 0-d loss from the sum a fused kernel returned, divided by `count` (the element count for
 * 'mean', 1 for 'sum'); its backward gets the upstream gradient already divided by it.
 */
function reducedLoss(
  name: string,
  inputs: Tensor[],
  summed: number,
  count: number,
  backward: (scale: number) => (FloatArray | null)[],
): Tensor {
  const out = new Tensor(allocLike(inputs[0].data, 1), []);
  out.data[0] = summed / count;
  return record(out, name, inputs, (g) => backward(g[0] / count));
}

/**
 * Mean squared error, as torch.nn.functional.mse_loss.
 *
 * @example
 * const loss = mseLoss(prediction, target); // a 0-d tensor
 */
export function mseLoss(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  checkTarget('mseLoss', input, target);
  if (checkReduction('mseLoss', reduction) === 'none') return ops.pow(ops.sub(input, target), 2);
  const n = input.numel;
  const backend = backendFor(input.data);
  const summed = backend.mseForward(input.data, target.data, n);

  // The target gets the input's gradient negated, as in PyTorch.
  return reducedLoss('mseLoss', [input, target], summed, reduction === 'mean' ? n : 1, (scale) => {
    const gx = allocLike(input.data, n);
    backend.mseBackward(input.data, target.data, n, scale, gx);
    if (!target.requiresGrad) return [gx, null];
    const gt = allocLike(input.data, n);
    backend.affine(gx, -1, -0, gt, n);
    return [gx, gt];
  });
}

/**
 * Binary cross-entropy on probabilities, as torch.nn.functional.binary_cross_entropy: each
 * log is clamped at -100, so p = 0 or 1 gives a finite loss.
 */
export function binaryCrossEntropy(
  input: Tensor,
  target: Tensor,
  reduction: Reduction = 'mean',
): Tensor {
  checkTarget('binaryCrossEntropy', input, target);
  const outside = input.data.findIndex((p) => !(p >= 0 && p <= 1));
  if (outside >= 0) {
    throw rangeError(
      'binaryCrossEntropy(input)',
      'probabilities in [0, 1]',
      verbatim(`${describe(input.data[outside])} at index ${outside}`),
    );
  }
  if (checkReduction('binaryCrossEntropy', reduction) === 'none') {
    return elementwiseLoss(input, target, 'bceForward', 'bceBackward', 'binaryCrossEntropy');
  }
  const n = input.numel;
  const backend = backendFor(input.data);
  const summed = backend.bceForward(input.data, target.data, n);
  const name = 'binaryCrossEntropy';
  return reducedLoss(name, [input], summed, reduction === 'mean' ? n : 1, (scale) => {
    const gx = allocLike(input.data, n);
    backend.bceBackward(input.data, target.data, n, scale, gx);
    return [gx];
  });
}

/**
 * Binary cross-entropy on logits, as torch.nn.functional.binary_cross_entropy_with_logits:
 * sigmoid and log in one stable formula.
 */
export function binaryCrossEntropyWithLogits(
  input: Tensor,
  target: Tensor,
  reduction: Reduction = 'mean',
): Tensor {
  checkTarget('binaryCrossEntropyWithLogits', input, target);
  const name = 'binaryCrossEntropyWithLogits';
  if (checkReduction(name, reduction) === 'none') {
    return elementwiseLoss(input, target, 'bceWithLogitsForward', 'bceWithLogitsBackward', name);
  }
  const n = input.numel;
  const backend = backendFor(input.data);
  const summed = backend.bceWithLogitsForward(input.data, target.data, n);
  return reducedLoss(name, [input], summed, reduction === 'mean' ? n : 1, (scale) => {
    const gx = allocLike(input.data, n);
    backend.bceWithLogitsBackward(input.data, target.data, n, scale, gx);
    return [gx];
  });
}

/**
 * reduction 'none' for the BCE losses: the fused kernels run one element at a time, which
 * is slow but exact; unreduced losses are for inspection, not hot loops.
 */
function elementwiseLoss(
  input: Tensor,
  target: Tensor,
  forward: 'bceForward' | 'bceWithLogitsForward',
  backward: 'bceBackward' | 'bceWithLogitsBackward',
  name: string,
): Tensor {
  const backend = backendFor(input.data);
  const out = new Tensor(allocLike(input.data, input.numel), input.shape);
  for (let i = 0; i < input.numel; i++) {
    out.data[i] = backend[forward](
      input.data.subarray(i, i + 1),
      target.data.subarray(i, i + 1),
      1,
    );
  }
  return record(out, name, [input], (g) => {
    const gx = allocLike(g, input.numel);
    for (let i = 0; i < input.numel; i++) {
      backendFor(g)[backward](
        input.data.subarray(i, i + 1),
        target.data.subarray(i, i + 1),
        1,
        g[i],
        gx.subarray(i, i + 1),
      );
    }
    return [gx];
  });
}

/** Class indices as an Int32Array, checked against the batch size and the class count. */
function classIndices(target: unknown, rows: number, classes: number): Int32Array {
  const where = 'crossEntropy(target)';
  let values: ArrayLike<number>;
  if (target instanceof Int32Array) values = target;
  else if (target instanceof Tensor) {
    // NOTE: PyTorch also takes class probabilities [batch, classes] here; nodegrad does not.
    if (target.ndim !== 1) {
      const expected = `class indices of shape [${rows}], not class probabilities`;
      throw rangeError(where, expected, verbatim(shapeString(target.shape)));
    }
    values = target.data;
  } else if (Array.isArray(target)) values = target;
  else throw typeError(where, 'class indices as an Int32Array, number[] or Tensor', target);
  if (values.length !== rows) {
    throw rangeError(where, `${rows} class indices (one per row of input)`, values.length);
  }
  // A copy: the backward must see the targets of the forward even if the caller reuses them.
  const out = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < 0 || v >= classes) {
      throw rangeError(
        where,
        `integer class indices in [0, ${classes})`,
        verbatim(`${describe(v)} at index ${i}`),
      );
    }
    out[i] = v;
  }
  return out;
}

/**
 * Cross-entropy from logits and integer class indices, as torch.nn.functional.cross_entropy:
 * log-softmax and negative log-likelihood fused into one stable kernel.
 *
 * @example
 * const loss = crossEntropy(model.forward(images), labels); // labels: Int32Array
 */
export function crossEntropy(
  input: Tensor,
  target: Tensor | Int32Array | readonly number[],
  reduction: Reduction = 'mean',
): Tensor {
  if (!(input instanceof Tensor) || input.ndim !== 2) {
    throw rangeError(
      'crossEntropy(input)',
      'logits of shape [batch, classes]',
      input instanceof Tensor ? verbatim(shapeString(input.shape)) : input,
    );
  }
  const [rows, cols] = input.shape;
  const targets = classIndices(target, rows, cols);
  if (checkReduction('crossEntropy', reduction) === 'none') {
    return ops.neg(pickColumns(ops.logSoftmax(input, 1), targets));
  }

  const backend = backendFor(input.data);
  // Both kernels write every element of their output.
  const probs = allocOutput(input.data, input.numel);
  const summed = backend.crossEntropyForward(input.data, targets, rows, cols, probs);
  const count = reduction === 'mean' ? rows : 1;
  return reducedLoss('crossEntropy', [input], summed, count, (scale) => {
    const gx = allocOutput(input.data, input.numel);
    backend.crossEntropyBackward(probs, targets, rows, cols, scale, gx);
    return [gx];
  });
}

/** out[r] = x[r, index[r]], with the gradient scattered back. */
function pickColumns(x: Tensor, index: Int32Array): Tensor {
  const [rows, cols] = x.shape;
  const out = new Tensor(allocLike(x.data, rows), [rows]);
  for (let r = 0; r < rows; r++) out.data[r] = x.data[r * cols + index[r]];
  return record(out, 'pickColumns', [x], (g) => {
    const gx = allocLike(g, x.numel);
    for (let r = 0; r < rows; r++) gx[r * cols + index[r]] = g[r];
    return [gx];
  });
}
