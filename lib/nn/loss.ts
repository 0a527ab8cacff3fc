import type { Tensor } from '../tensor';
import { rangeError, typeError } from '../errors';
import {
  binaryCrossEntropy,
  binaryCrossEntropyWithLogits,
  crossEntropy,
  mseLoss,
} from './functional';
import type { Reduction } from './functional';
import { Module } from './module';

abstract class Loss extends Module {
  readonly reduction: Reduction;

  constructor({ reduction = 'mean' }: { reduction?: Reduction } = {}) {
    super();
    if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') {
      const where = `${new.target.name}(reduction)`;
      const expected = "'mean', 'sum' or 'none'";
      if (typeof reduction !== 'string') throw typeError(where, expected, reduction);
      throw rangeError(where, expected, reduction);
    }
    this.reduction = reduction;
  }

  protected override extraRepr(): string {
    return this.reduction === 'mean' ? '' : `reduction=${this.reduction}`;
  }
}

/**
 * Mean squared error between input and target, PyTorch's `nn.MSELoss`.
 *
 * @example
 * new MSELoss().forward(prediction, target).item();
 */
export class MSELoss extends Loss {
  forward(input: Tensor, target: Tensor): Tensor {
    return mseLoss(input, target, this.reduction);
  }
}

/**
 * Cross-entropy of raw logits [batch, classes] against integer class indices, PyTorch's
 * `nn.CrossEntropyLoss` (log-softmax and negative log-likelihood in one stable step).
 *
 * @example
 * new CrossEntropyLoss().forward(model.forward(x), labels).backward();
 */
export class CrossEntropyLoss extends Loss {
  forward(logits: Tensor, target: Tensor | Int32Array | number[]): Tensor {
    return crossEntropy(logits, target, this.reduction);
  }
}

/**
 * Binary cross-entropy of probabilities in [0, 1] against targets in [0, 1], PyTorch's
 * `nn.BCELoss` (each log clamped at -100, as PyTorch does).
 */
export class BCELoss extends Loss {
  forward(probabilities: Tensor, target: Tensor): Tensor {
    return binaryCrossEntropy(probabilities, target, this.reduction);
  }
}

/**
 * Binary cross-entropy of logits, a sigmoid and BCELoss in one numerically stable step,
 * PyTorch's `nn.BCEWithLogitsLoss`.
 */
export class BCEWithLogitsLoss extends Loss {
  forward(logits: Tensor, target: Tensor): Tensor {
    return binaryCrossEntropyWithLogits(logits, target, this.reduction);
  }
}
