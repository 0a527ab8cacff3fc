import { ones, Tensor, zeros } from '../tensor';
import type { DType } from '../tensor';
import { checkInt, checkOptions, rangeError, typeError } from '../errors';
import { layerNorm } from './functional';
import { Module } from './module';

export interface LayerNormOptions {
  /** Added to the variance before the square root; 1e-5 as in PyTorch. */
  eps?: number;
  /** Learn a per-element weight (starting at 1) and bias (starting at 0); true by default. */
  elementwiseAffine?: boolean;
  /** With elementwiseAffine, whether there is a bias; true by default. */
  bias?: boolean;
  dtype?: DType;
}

/**
 * Layer normalisation over the trailing dimensions, PyTorch's `nn.LayerNorm`: parameters
 * `weight` and `bias` of shape normalizedShape, so state dicts match.
 *
 * @example
 * const norm = new LayerNorm(128);
 * norm.forward(randn([8, 64, 128])).shape; // [8, 64, 128]
 */
export class LayerNorm extends Module {
  readonly normalizedShape: readonly number[];
  readonly eps: number;
  readonly elementwiseAffine: boolean;
  weight: Tensor | null;
  bias: Tensor | null;

  constructor(normalizedShape: number | readonly number[], options: LayerNormOptions = {}) {
    super();
    checkOptions('LayerNorm', options, ['eps', 'elementwiseAffine', 'bias', 'dtype']);
    const { eps = 1e-5, elementwiseAffine = true, bias = true, dtype = 'float32' } = options;
    const shape = typeof normalizedShape === 'number' ? [normalizedShape] : normalizedShape;
    if (!Array.isArray(shape) || shape.length === 0) {
      throw typeError('LayerNorm(normalizedShape)', 'a positive integer or array of them', shape);
    }
    this.normalizedShape = shape.map((d, i) => checkInt(`LayerNorm(normalizedShape[${i}])`, d, 1));
    if (typeof eps !== 'number') throw typeError('LayerNorm(eps)', 'a number >= 0', eps);
    if (!(eps >= 0)) throw rangeError('LayerNorm(eps)', 'a number >= 0', eps);
    if (typeof elementwiseAffine !== 'boolean') {
      throw typeError('LayerNorm(elementwiseAffine)', 'a boolean', elementwiseAffine);
    }
    if (typeof bias !== 'boolean') throw typeError('LayerNorm(bias)', 'a boolean', bias);
    this.eps = eps;
    this.elementwiseAffine = elementwiseAffine;
    this.weight = elementwiseAffine ? this.param(ones(this.normalizedShape, { dtype })) : null;
    this.bias =
      elementwiseAffine && bias ? this.param(zeros(this.normalizedShape, { dtype })) : null;
  }

  /** x: [*, ...normalizedShape], normalised over the trailing dimensions; same shape out. */
  forward(x: Tensor): Tensor {
    return layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }

  protected override extraRepr(): string {
    return (
      `(${this.normalizedShape.join(', ')},), eps=${this.eps}, ` +
      `elementwise_affine=${this.elementwiseAffine}`
    );
  }
}
