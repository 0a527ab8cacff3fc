import { Tensor, uniform } from '../tensor';
import type { DType } from '../tensor';
import { checkInt, rangeError, typeError } from '../errors';
import { linear } from './functional';
import { Module } from './module';

/**
 * y = x Wᵀ + b, PyTorch's `nn.Linear`. The weight is [outFeatures, inFeatures] and the bias
 * [outFeatures]. Both start from PyTorch's default initialisation, U(-1/√in, 1/√in) drawn from
 * the seeded generator (kaiming_uniform with a = √5 gives this bound for the weight).
 *
 * @example
 * manualSeed(0);
 * const fc = new Linear(784, 256);
 * fc.forward(zeros([32, 784])).shape; // [32, 256]
 */
export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  weight: Tensor;
  bias: Tensor | null;

  constructor(
    inFeatures: number,
    outFeatures: number,
    bias = true,
    { dtype = 'float32' }: { dtype?: DType } = {},
  ) {
    super();
    this.inFeatures = checkInt('Linear(inFeatures)', inFeatures, 1);
    this.outFeatures = checkInt('Linear(outFeatures)', outFeatures, 1);
    if (typeof bias !== 'boolean') throw typeError('Linear(bias)', 'a boolean', bias);

    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = this.param(uniform([outFeatures, inFeatures], -bound, bound, { dtype }));
    this.bias = bias ? this.param(uniform([outFeatures], -bound, bound, { dtype })) : null;
  }

  /** x: [*, inFeatures] → [*, outFeatures], any leading dimensions (PyTorch's rule). */
  forward(x: Tensor): Tensor {
    if (!(x instanceof Tensor)) throw typeError(this.name(), 'a Tensor', x);
    if (x.ndim < 1 || x.shape[x.ndim - 1] !== this.inFeatures) {
      throw rangeError(this.name(), `input of shape [*, ${this.inFeatures}]`, [...x.shape]);
    }
    return linear(x, this.weight, this.bias);
  }

  protected override extraRepr(): string {
    const bias = this.bias !== null;
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${bias}`;
  }

  private name(): string {
    return `Linear(${this.inFeatures}, ${this.outFeatures})`;
  }
}
