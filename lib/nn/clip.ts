/**
 * Gradient clipping, as torch.nn.utils.clip_grad_norm_ and clip_grad_value_: both change the
 * .grad of each parameter in place and skip parameters without a gradient.
 */
import { checkFinite, rangeError, typeError } from '../errors';
import { Tensor } from '../tensor';

function gradients(where: string, parameters: Tensor | Iterable<Tensor>): Tensor[] {
  if (parameters instanceof Tensor) parameters = [parameters];
  if (
    parameters === null ||
    typeof parameters !== 'object' ||
    typeof (parameters as Iterable<Tensor>)[Symbol.iterator] !== 'function'
  ) {
    throw typeError(`${where}(parameters)`, 'a Tensor or an iterable of tensors', parameters);
  }
  const grads: Tensor[] = [];
  [...parameters].forEach((p, i) => {
    if (!(p instanceof Tensor)) throw typeError(`${where}(parameters[${i}])`, 'a Tensor', p);
    if (p.grad !== null) grads.push(p.grad);
  });
  return grads;
}

/** The sum of the squares of data, in double precision. */
function sumOfSquares(data: ArrayLike<number>): number {
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  const n = data.length;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const x0 = data[i];
    const x1 = data[i + 1];
    const x2 = data[i + 2];
    const x3 = data[i + 3];
    a0 += x0 * x0;
    a1 += x1 * x1;
    a2 += x2 * x2;
    a3 += x3 * x3;
  }
  for (; i < n; i++) a0 += data[i] * data[i];
  return a0 + a1 + (a2 + a3);
}

/** The normType-norm of one array, in double precision. */
function norm(data: ArrayLike<number>, normType: number): number {
  let acc = 0;
  const n = data.length;
  if (normType === Infinity) {
    for (let i = 0; i < n; i++) acc = Math.max(acc, Math.abs(data[i]));
    return acc;
  }
  // The usual 2-norm squares by a product (the same value as ** 2), not by a call to pow per
  // element, which was most of a GPT step's clipping (bench/NOTES.md, W6); four sums, so that
  // the additions do not wait on each other (twice as fast).
  if (normType === 2) return Math.sqrt(sumOfSquares(data));
  for (let i = 0; i < n; i++) acc += Math.abs(data[i]) ** normType;
  return acc ** (1 / normType);
}

export interface ClipGradNormOptions {
  /** The p of the p-norm (default 2; Infinity for the largest magnitude). */
  normType?: number;
  /** Throw when the total norm is NaN or infinite instead of scaling by it (default false). */
  errorIfNonfinite?: boolean;
}

/**
 * Scales the gradients of `parameters` together so that their total norm (the norm of the
 * vector of every gradient's norm) is at most maxNorm, and returns the total norm before
 * clipping. As PyTorch, the scale is min(1, maxNorm / (total + 1e-6)).
 *
 * @example
 * loss.backward();
 * const norm = clipGradNorm_(model.parameters(), 1.0);
 * optimizer.step();
 */
export function clipGradNorm_(
  parameters: Tensor | Iterable<Tensor>,
  maxNorm: number,
  { normType = 2, errorIfNonfinite = false }: ClipGradNormOptions = {},
): number {
  const grads = gradients('clipGradNorm_', parameters);
  checkFinite('clipGradNorm_(maxNorm)', maxNorm);
  if (typeof normType !== 'number' || Number.isNaN(normType) || normType <= 0) {
    throw rangeError('clipGradNorm_(normType)', 'a number > 0 or Infinity', normType);
  }
  if (grads.length === 0) return 0;

  const total = norm(
    grads.map((g) => norm(g.data, normType)),
    normType,
  );
  if (errorIfNonfinite && !Number.isFinite(total)) {
    throw rangeError('clipGradNorm_', `a finite total gradient norm of order ${normType}`, total);
  }
  const scale = Math.min(1, maxNorm / (total + 1e-6));
  // A scale of 1 leaves every value as it is (NaN and -0 included): nothing to write.
  if (scale === 1) return total;
  for (const g of grads) {
    const data = g.data;
    for (let i = 0; i < data.length; i++) data[i] *= scale;
  }
  return total;
}

/**
 * Clamps every gradient element of `parameters` to [-clipValue, clipValue].
 *
 * @example
 * clipGradValue_(model.parameters(), 0.5);
 */
export function clipGradValue_(parameters: Tensor | Iterable<Tensor>, clipValue: number): void {
  const grads = gradients('clipGradValue_', parameters);
  checkFinite('clipGradValue_(clipValue)', clipValue);
  if (clipValue < 0) throw rangeError('clipGradValue_(clipValue)', 'a number >= 0', clipValue);
  for (const g of grads) {
    for (let i = 0; i < g.numel; i++) {
      const v = g.data[i];
      g.data[i] = v > clipValue ? clipValue : v < -clipValue ? -clipValue : v;
    }
  }
}
