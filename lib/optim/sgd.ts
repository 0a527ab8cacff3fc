import type { Backend } from '../backend/backend';
import { checkFinite, typeError } from '../errors';
import type { Tensor } from '../tensor';
import {
  checkOption,
  Optimizer,
  type OptionPath,
  type ParamGroup,
  type ParamGroupInput,
} from './optimizer';

/** Options of {@link SGD}, with PyTorch's defaults and meanings. */
export interface SgdOptions {
  /** Learning rate (default 1e-3, as PyTorch). */
  lr: number;
  /** Momentum factor (default 0: plain gradient descent). */
  momentum: number;
  /** Dampening of the gradient's share in the momentum buffer (default 0). */
  dampening: number;
  /** L2 penalty added to the gradient: g = grad + weightDecay * p (default 0). */
  weightDecay: number;
  /** Nesterov momentum (default false); needs momentum > 0 and dampening 0. */
  nesterov: boolean;
}

const SGD_DEFAULTS: SgdOptions = {
  lr: 1e-3,
  momentum: 0,
  dampening: 0,
  weightDecay: 0,
  nesterov: false,
};

/**
 * Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and weight
 * decay, as torch.optim.SGD: g = grad + weightDecay * p; buf = g on the first step, then
 * buf = momentum * buf + (1 - dampening) * g; g = nesterov ? g + momentum * buf : buf;
 * p -= lr * g.
 *
 * @example
 * const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
 * opt.zeroGrad();
 * loss.backward();
 * opt.step();
 */
export class SGD extends Optimizer<SgdOptions> {
  constructor(
    params: Iterable<Tensor> | Iterable<ParamGroupInput<SgdOptions>>,
    options: Partial<SgdOptions> = {},
  ) {
    super('SGD', params, SGD_DEFAULTS, options);
  }

  protected validate(o: SgdOptions, at: OptionPath): void {
    checkOption(at('lr'), o.lr, 0);
    checkOption(at('momentum'), o.momentum, 0);
    checkFinite(at('dampening'), o.dampening);
    checkOption(at('weightDecay'), o.weightDecay, 0);
    if (typeof o.nesterov !== 'boolean') {
      throw typeError(at('nesterov'), 'true or false', o.nesterov);
    }
    if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) {
      throw new RangeError(
        `${at('nesterov')}: expected momentum > 0 and dampening 0, ` +
          `received momentum ${o.momentum} and dampening ${o.dampening}`,
      );
    }
  }

  protected updateParameter(
    backend: Backend,
    param: Tensor,
    grad: Tensor,
    group: ParamGroup<SgdOptions>,
  ): void {
    const state = this.stateOf(param);
    let buf = state.momentumBuffer;
    let firstStep = false;
    if (group.momentum !== 0 && typeof buf !== 'object') {
      buf = this.zerosLike(param);
      state.momentumBuffer = buf;
      firstStep = true;
    }
    // Without momentum the kernel ignores the buffer; the gradient stands in for it.
    const bufferArg = typeof buf === 'object' ? buf : grad.data;

    backend.sgdStep(param.data, grad.data, bufferArg, param.numel, {
      lr: group.lr,
      momentum: group.momentum,
      dampening: group.dampening,
      weightDecay: group.weightDecay,
      nesterov: group.nesterov,
      firstStep,
    });
    state.step += 1;
  }
}
