import type { Backend } from '../backend/backend';
import type { Tensor } from '../tensor';
import {
  checkOption,
  Optimizer,
  type OptionPath,
  type ParamGroup,
  type ParamGroupInput,
} from './optimizer';

/** Options of {@link Adagrad}, with torch.optim.Adagrad's defaults and meanings. */
export interface AdagradOptions {
  /** Learning rate (default 1e-2). */
  lr: number;
  /** The learning rate at step t is lr / (1 + (t - 1) * lrDecay) (default 0). */
  lrDecay: number;
  /** L2 penalty added to the gradient (default 0). */
  weightDecay: number;
  /** The starting value of the sum of squared gradients (default 0). */
  initialAccumulatorValue: number;
  /** Added to the denominator after the square root (default 1e-10). */
  eps: number;
}

/**
 * Adagrad, as torch.optim.Adagrad: g = grad + weightDecay * p; sum += g²;
 * p -= lr / (1 + (t - 1) * lrDecay) * g / (sqrt(sum) + eps) at step t.
 *
 * @example
 * const opt = new Adagrad(model.parameters(), { lr: 0.1 });
 */
export class Adagrad extends Optimizer<AdagradOptions> {
  constructor(
    params: Iterable<Tensor> | Iterable<ParamGroupInput<AdagradOptions>>,
    options: Partial<AdagradOptions> = {},
  ) {
    const defaults = {
      lr: 1e-2,
      lrDecay: 0,
      weightDecay: 0,
      initialAccumulatorValue: 0,
      eps: 1e-10,
    };
    super('Adagrad', params, defaults, options);
  }

  protected validate(o: AdagradOptions, at: OptionPath): void {
    checkOption(at('lr'), o.lr, 0);
    checkOption(at('lrDecay'), o.lrDecay, 0);
    checkOption(at('weightDecay'), o.weightDecay, 0);
    checkOption(at('initialAccumulatorValue'), o.initialAccumulatorValue, 0);
    checkOption(at('eps'), o.eps, 0);
  }

  protected updateParameter(
    backend: Backend,
    param: Tensor,
    grad: Tensor,
    group: ParamGroup<AdagradOptions>,
  ): void {
    const state = this.stateOf(param);
    if (typeof state.sum !== 'object') {
      state.sum = this.zerosLike(param).fill(group.initialAccumulatorValue);
    }
    state.step += 1;

    backend.adagradStep(param.data, grad.data, state.sum, param.numel, {
      lr: group.lr,
      lrDecay: group.lrDecay,
      weightDecay: group.weightDecay,
      eps: group.eps,
      step: state.step,
    });
  }
}
