import type { Backend } from '../backend/backend';
import { typeError } from '../errors';
import type { Tensor } from '../tensor';
import {
  checkOption,
  Optimizer,
  type OptionPath,
  type ParamGroup,
  type ParamGroupInput,
} from './optimizer';

/** Options of {@link RMSprop}, with torch.optim.RMSprop's defaults and meanings. */
export interface RmspropOptions {
  /** Learning rate (default 1e-2). */
  lr: number;
  /** Smoothing constant of the squared-gradient average (default 0.99). */
  alpha: number;
  /** Added to the denominator after the square root (default 1e-8). */
  eps: number;
  /** L2 penalty added to the gradient (default 0). */
  weightDecay: number;
  /** Momentum factor (default 0). */
  momentum: number;
  /** Normalise by the estimated variance of the gradient instead of its second moment. */
  centered: boolean;
}

/**
 * RMSprop, as torch.optim.RMSprop: g = grad + weightDecay * p; squareAvg = alpha * squareAvg
 * + (1 - alpha) * g²; avg = sqrt(squareAvg - gradAvg²) + eps when centered (gradAvg the
 * running mean of g), else sqrt(squareAvg) + eps; with momentum, buf = momentum * buf + g /
 * avg and p -= lr * buf, else p -= lr * g / avg. Buffers start at zero.
 *
 * @example
 * const opt = new RMSprop(model.parameters(), { lr: 0.01, momentum: 0.9 });
 */
export class RMSprop extends Optimizer<RmspropOptions> {
  constructor(
    params: Iterable<Tensor> | Iterable<ParamGroupInput<RmspropOptions>>,
    options: Partial<RmspropOptions> = {},
  ) {
    const defaults = {
      lr: 1e-2,
      alpha: 0.99,
      eps: 1e-8,
      weightDecay: 0,
      momentum: 0,
      centered: false,
    };
    super('RMSprop', params, defaults, options);
  }

  protected validate(o: RmspropOptions, at: OptionPath): void {
    checkOption(at('lr'), o.lr, 0);
    checkOption(at('alpha'), o.alpha, 0);
    checkOption(at('eps'), o.eps, 0);
    checkOption(at('weightDecay'), o.weightDecay, 0);
    checkOption(at('momentum'), o.momentum, 0);
    if (typeof o.centered !== 'boolean') {
      throw typeError(at('centered'), 'true or false', o.centered);
    }
  }

  protected updateParameter(
    backend: Backend,
    param: Tensor,
    grad: Tensor,
    group: ParamGroup<RmspropOptions>,
  ): void {
    const state = this.stateOf(param);
    if (typeof state.squareAvg !== 'object') state.squareAvg = this.zerosLike(param);
    if (group.momentum > 0 && typeof state.momentumBuffer !== 'object') {
      state.momentumBuffer = this.zerosLike(param);
    }
    if (group.centered && typeof state.gradAvg !== 'object') state.gradAvg = this.zerosLike(param);
    state.step += 1;

    // Buffers an update does not use are not read; the square average stands in for them.
    const { squareAvg, gradAvg, momentumBuffer } = state;
    const unused = squareAvg as typeof param.data;
    backend.rmspropStep(
      param.data,
      grad.data,
      squareAvg as typeof param.data,
      typeof gradAvg === 'object' ? gradAvg : unused,
      typeof momentumBuffer === 'object' ? momentumBuffer : unused,
      param.numel,
      {
        lr: group.lr,
        alpha: group.alpha,
        eps: group.eps,
        weightDecay: group.weightDecay,
        momentum: group.momentum,
        centered: group.centered,
      },
    );
  }
}
