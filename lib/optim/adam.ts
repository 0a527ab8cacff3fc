import type { Backend } from '../backend/backend';
import { rangeError, typeError } from '../errors';
import type { Tensor } from '../tensor';
import {
  checkOption,
  Optimizer,
  type OptionPath,
  type ParamGroup,
  type ParamGroupInput,
} from './optimizer';

/** Options of {@link Adam} and {@link AdamW}, with PyTorch's meanings. */
export interface AdamOptions {
  /** Learning rate (default 1e-3). */
  lr: number;
  /** Decay rates of the first and second moment estimates (default [0.9, 0.999]). */
  betas: [number, number];
  /** Added to the denominator outside the square root (default 1e-8). */
  eps: number;
  /** Adam: L2 penalty added to the gradient (default 0). AdamW: decoupled decay (1e-2). */
  weightDecay: number;
}

function validateAdam(o: AdamOptions, at: OptionPath): void {
  checkOption(at('lr'), o.lr, 0);
  if (!Array.isArray(o.betas)) {
    throw typeError(at('betas'), 'two numbers [beta1, beta2]', o.betas);
  }
  if (o.betas.length !== 2) {
    throw rangeError(at('betas'), 'two numbers [beta1, beta2]', o.betas);
  }
  checkOption(at('betas[0]'), o.betas[0], 0, 1);
  checkOption(at('betas[1]'), o.betas[1], 0, 1);
  checkOption(at('eps'), o.eps, 0);
  checkOption(at('weightDecay'), o.weightDecay, 0);
}

/** Shared by Adam and AdamW: they differ only in how weight decay enters. */
abstract class AdamBase extends Optimizer<AdamOptions> {
  protected abstract readonly decoupled: boolean;

  protected validate(o: AdamOptions, at: OptionPath): void {
    validateAdam(o, at);
  }

  protected updateParameter(
    backend: Backend,
    param: Tensor,
    grad: Tensor,
    group: ParamGroup<AdamOptions>,
  ): void {
    const state = this.stateOf(param);
    if (typeof state.expAvg !== 'object' || typeof state.expAvgSq !== 'object') {
      state.expAvg = this.zerosLike(param);
      state.expAvgSq = this.zerosLike(param);
    }
    state.step += 1;

    backend.adamStep(param.data, grad.data, state.expAvg, state.expAvgSq, param.numel, {
      lr: group.lr,
      beta1: group.betas[0],
      beta2: group.betas[1],
      eps: group.eps,
      weightDecay: group.weightDecay,
      decoupled: this.decoupled,
      step: state.step,
    });
  }
}

/**
 * Adam, as torch.optim.Adam: bias-corrected first and second moments, eps added outside the
 * square root, weight decay (if any) added to the gradient.
 *
 * @example
 * const opt = new Adam(model.parameters(), { lr: 1e-3 });
 */
export class Adam extends AdamBase {
  protected readonly decoupled: boolean = false;

  constructor(
    params: Iterable<Tensor> | Iterable<ParamGroupInput<AdamOptions>>,
    options: Partial<AdamOptions> = {},
  ) {
    super('Adam', params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 }, options);
  }
}

/**
 * AdamW, as torch.optim.AdamW: Adam with decoupled weight decay, p *= 1 - lr * weightDecay
 * before the Adam update (default weightDecay 1e-2).
 *
 * @example
 * const opt = new AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0.01 });
 */
export class AdamW extends AdamBase {
  protected readonly decoupled: boolean = true;

  constructor(
    params: Iterable<Tensor> | Iterable<ParamGroupInput<AdamOptions>>,
    options: Partial<AdamOptions> = {},
  ) {
    super(
      'AdamW',
      params,
      { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2 },
      options,
    );
  }
}
