/**
 * The transformer's own ops: layer normalisation and GELU, each one fused kernel forward and one
 * backward, with the gradients of the input and of the affine parameters.
 */
import type { FloatArray } from '../backend/backend';
import { rangeError, shapeString, typeError, verbatim } from '../errors';
import { numel, sameShape } from '../tensor/shape';
import { Tensor } from '../tensor/tensor';
import { allocLike, allocOutput, backendFor } from './dispatch';
import { record } from './engine';

/** GELU's two forms, with PyTorch's names. */
export type GeluApproximate = 'none' | 'tanh';

function checkParameter(where: string, p: Tensor | null, x: Tensor, shape: readonly number[]) {
  if (p === null) return;
  if (!(p instanceof Tensor) || !sameShape(p.shape, shape) || p.dtype !== x.dtype) {
    const received = p instanceof Tensor ? verbatim(`${p.dtype} ${shapeString(p.shape)}`) : p;
    const expected = `a Tensor of shape ${shapeString(shape)} and the input's dtype ${x.dtype}`;
    throw rangeError(where, `${expected}, or null`, received);
  }
}

/**
 * Layer normalisation over the trailing dimensions `normalizedShape`, as
 * torch.nn.functional.layer_norm: each slice is shifted to mean 0 and scaled to variance 1
 * (the biased variance, plus eps), then multiplied by weight and shifted by bias when given.
 *
 * @example
 * const y = layerNorm(x, [128], weight, bias); // x [batch, seq, 128]
 */
export function layerNorm(
  x: Tensor,
  normalizedShape: readonly number[],
  weight: Tensor | null = null,
  bias: Tensor | null = null,
  eps = 1e-5,
): Tensor {
  if (!(x instanceof Tensor)) throw typeError('layerNorm(input)', 'a Tensor', x);
  const k = normalizedShape.length;
  const trailing = x.shape.slice(x.ndim - k);
  if (k === 0 || k > x.ndim || !sameShape(trailing, normalizedShape)) {
    throw new RangeError(
      `layerNorm: expected input of shape [*, ${normalizedShape.join(', ')}], ` +
        `received ${shapeString(x.shape)}`,
    );
  }
  checkParameter('layerNorm(weight)', weight, x, normalizedShape);
  checkParameter('layerNorm(bias)', bias, x, normalizedShape);
  if (typeof eps !== 'number' || !(eps >= 0))
    throw rangeError('layerNorm(eps)', 'a number >= 0', eps);

  const cols = numel(normalizedShape);
  const rows = cols === 0 ? 0 : x.numel / cols;
  const backend = backendFor(x.data);
  const y = new Tensor(allocOutput(x.data, x.numel), x.shape);
  const mean = allocLike(x.data, rows);
  const rstd = allocLike(x.data, rows);
  const w = weight?.data ?? null;
  backend.layerNormForward(x.data, w, bias?.data ?? null, rows, cols, eps, y.data, mean, rstd);

  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  return record(y, 'layerNorm', inputs, (g) => {
    const gx = allocOutput(g, g.length);
    const gw = weight?.requiresGrad ? allocLike(g, cols) : null;
    const gb = bias?.requiresGrad ? allocLike(g, cols) : null;
    backendFor(g).layerNormBackward(x.data, w, mean, rstd, g, rows, cols, gx, gw, gb);
    const grads: (FloatArray | null)[] = [x.requiresGrad ? gx : null];
    if (weight) grads.push(gw);
    if (bias) grads.push(gb);
    return grads;
  });
}

/**
 * GELU, x · Φ(x), as torch.nn.functional.gelu: exact (through erf) by default, or with
 * approximate 'tanh', 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))).
 *
 * @example
 * gelu(tensor([-1, 0, 1])).toArray(); // [-0.1587, 0, 0.8413]
 */
export function gelu(x: Tensor, approximate: GeluApproximate = 'none'): Tensor {
  if (!(x instanceof Tensor)) throw typeError('gelu(input)', 'a Tensor', x);
  if (approximate !== 'none' && approximate !== 'tanh') {
    throw typeError('gelu(approximate)', "'none' or 'tanh'", approximate);
  }
  const tanhForm = approximate === 'tanh';
  const y = new Tensor(allocOutput(x.data, x.numel), x.shape);
  const backend = backendFor(x.data);
  if (tanhForm) backend.geluTanhForward(x.data, y.data, x.numel);
  else backend.geluForward(x.data, y.data, x.numel);

  return record(y, 'gelu', [x], (g) => {
    const gx = allocOutput(g, g.length);
    const be = backendFor(g);
    if (tanhForm) be.geluTanhBackward(x.data, g, gx, g.length);
    else be.geluBackward(x.data, g, gx, g.length);
    return [gx];
  });
}
