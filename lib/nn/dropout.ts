import type { Tensor } from '../tensor';
import { defaultGenerator, Generator } from '../tensor/random';
import { checkOptions, typeError } from '../errors';
import { checkDropoutProbability, dropout } from '../autograd/ops-dropout';
import { Module } from './module';

export interface DropoutOptions {
  /** The stream the masks are drawn from; the global generator (manualSeed) by default. */
  generator?: Generator;
}

/**
 * Inverted dropout, PyTorch's `nn.Dropout`: in training each element is zeroed with
 * probability p and the others scaled by 1 / (1 - p); in evaluation the input passes through
 * unchanged. Masks come from the global generator unless one is given, so `manualSeed` makes
 * them repeat.
 *
 * @example
 * const drop = new Dropout(0.1);
 * drop.forward(x); // training: about 10% zeros, the rest x / 0.9
 * drop.eval().forward(x); // x itself
 */
export class Dropout extends Module {
  readonly p: number;
  readonly generator: Generator;

  constructor(p = 0.5, options: DropoutOptions = {}) {
    super();
    checkOptions('Dropout', options, ['generator'], {
      inplace: {
        accepts: (v) => v === false,
        expected: 'false (in-place dropout is not implemented)',
      },
    });
    const { generator = defaultGenerator } = options;
    this.p = checkDropoutProbability('Dropout(p)', p);
    if (!(generator instanceof Generator)) {
      throw typeError('Dropout(generator)', 'a Generator', generator);
    }
    this.generator = generator;
  }

  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training, this.generator);
  }

  protected override extraRepr(): string {
    return `p=${this.p}`;
  }
}
