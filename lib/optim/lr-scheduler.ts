/**
 * Learning-rate schedules, as torch.optim.lr_scheduler: each changes the `lr` of every
 * parameter group of an optimizer when its step() is called, once per epoch (or per batch, as
 * the schedule is meant). The formulas are PyTorch's own, recursive where PyTorch's are, so
 * the same calls give the same learning rates.
 */
import { checkFinite, checkInt, rangeError, typeError } from '../errors';

/** What a schedule needs of an optimizer: groups with a mutable learning rate. */
export interface ScheduledOptimizer {
  readonly paramGroups: { lr: number }[];
}

/** A schedule's state: the epoch counter and the learning rates, plus its own fields. */
export type SchedulerStateDict = Record<string, number | number[] | string | boolean>;

function checkOptimizer(where: string, optimizer: unknown): ScheduledOptimizer {
  const groups = (optimizer as ScheduledOptimizer | null)?.paramGroups;
  if (!Array.isArray(groups) || groups.some((g) => typeof g?.lr !== 'number')) {
    throw typeError(`${where}(optimizer)`, 'an optimizer with paramGroups', optimizer);
  }
  return optimizer as ScheduledOptimizer;
}

/**
 * The base of the epoch-driven schedules: construction counts as epoch 0 and sets the
 * learning rates for it; each step() advances the epoch and sets the next ones.
 */
export abstract class LRScheduler {
  readonly optimizer: ScheduledOptimizer;
  /** Each group's learning rate when the schedule started. */
  baseLrs: number[];
  lastEpoch = -1;
  protected lastLr: number[] = [];

  protected constructor(name: string, optimizer: ScheduledOptimizer) {
    this.optimizer = checkOptimizer(name, optimizer);
    this.baseLrs = optimizer.paramGroups.map((g) => g.lr);
  }

  /** Called by subclasses once their fields are set: the learning rates of epoch 0. */
  protected start(): void {
    this.step();
  }

  /** The learning rate of each group for this.lastEpoch, from the current ones. */
  protected abstract getLr(): number[];

  /** Advances one epoch and sets each group's learning rate. */
  step(): void {
    this.lastEpoch += 1;
    const lrs = this.getLr();
    this.optimizer.paramGroups.forEach((g, i) => (g.lr = lrs[i]));
    this.lastLr = lrs;
  }

  /** The learning rates the last step() set, one per group. */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** The schedule's state (not the optimizer's), as plain numbers. */
  stateDict(): SchedulerStateDict {
    const state: SchedulerStateDict = {};
    for (const [key, value] of Object.entries(this)) {
      if (key === 'optimizer') continue;
      state[key] = Array.isArray(value) ? [...value] : value;
    }
    return state;
  }

  /** Restores a state from stateDict() of a schedule of the same kind. */
  loadStateDict(state: SchedulerStateDict): void {
    const where = `${this.constructor.name}.loadStateDict(state)`;
    if (state === null || typeof state !== 'object') {
      throw typeError(where, 'an object from stateDict()', state);
    }
    const own = this as unknown as Record<string, unknown>;
    for (const [key, value] of Object.entries(state)) {
      if (key === 'optimizer' || !Object.hasOwn(this, key)) {
        throw rangeError(where, `keys among ${Object.keys(this.stateDict()).join(', ')}`, key);
      }
      if (typeof value !== typeof own[key] || Array.isArray(value) !== Array.isArray(own[key])) {
        throw typeError(`${where}.${key}`, `a value like ${typeof own[key]}`, value);
      }
    }
    for (const [key, value] of Object.entries(state)) {
      own[key] = Array.isArray(value) ? [...value] : value;
    }
  }

  protected currentLrs(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }
}

/**
 * Multiplies the learning rate by gamma every stepSize epochs, as torch.optim.lr_scheduler.StepLR.
 *
 * @example
 * const scheduler = new StepLR(optimizer, { stepSize: 30, gamma: 0.1 });
 * for (let epoch = 0; epoch < 100; epoch++) { train(); scheduler.step(); }
 */
export class StepLR extends LRScheduler {
  stepSize: number;
  gamma: number;

  constructor(optimizer: ScheduledOptimizer, { stepSize = 1, gamma = 0.1 } = {}) {
    super('StepLR', optimizer);
    this.stepSize = checkInt('StepLR(stepSize)', stepSize, 1);
    this.gamma = checkFinite('StepLR(gamma)', gamma);
    this.start();
  }

  protected getLr(): number[] {
    const lrs = this.currentLrs();
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) return lrs;
    return lrs.map((lr) => lr * this.gamma);
  }
}

/**
 * Cosine annealing from the base learning rate down to etaMin over tMax epochs (and back up
 * over the next tMax, as PyTorch's recursive form does), torch's CosineAnnealingLR.
 *
 * @example
 * const scheduler = new CosineAnnealingLR(optimizer, { tMax: 10, etaMin: 1e-5 });
 */
export class CosineAnnealingLR extends LRScheduler {
  tMax: number;
  etaMin: number;

  constructor(
    optimizer: ScheduledOptimizer,
    { tMax, etaMin = 0 }: { tMax: number; etaMin?: number },
  ) {
    super('CosineAnnealingLR', optimizer);
    this.tMax = checkInt('CosineAnnealingLR(tMax)', tMax, 1);
    this.etaMin = checkFinite('CosineAnnealingLR(etaMin)', etaMin);
    this.start();
  }

  protected getLr(): number[] {
    const { lastEpoch: t, tMax, etaMin } = this;
    const lrs = this.currentLrs();
    if (t === 0) return lrs;
    // Python's modulo: the remainder has the divisor's sign.
    const m = 2 * tMax;
    if ((((t - 1 - tMax) % m) + m) % m === 0) {
      return lrs.map(
        (lr, i) => lr + ((this.baseLrs[i] - etaMin) * (1 - Math.cos(Math.PI / tMax))) / 2,
      );
    }
    const ratio = (1 + Math.cos((Math.PI * t) / tMax)) / (1 + Math.cos((Math.PI * (t - 1)) / tMax));
    return lrs.map((lr) => ratio * (lr - etaMin) + etaMin);
  }
}

/**
 * Linear warm-up (or decay): the learning rate is multiplied by a factor that goes linearly
 * from startFactor to endFactor over totalIters epochs, then stays, as torch's LinearLR.
 *
 * @example
 * const warmup = new LinearLR(optimizer, { startFactor: 0.1, totalIters: 5 });
 */
export class LinearLR extends LRScheduler {
  startFactor: number;
  endFactor: number;
  totalIters: number;

  constructor(
    optimizer: ScheduledOptimizer,
    { startFactor = 1 / 3, endFactor = 1, totalIters = 5 } = {},
  ) {
    super('LinearLR', optimizer);
    this.startFactor = checkFinite('LinearLR(startFactor)', startFactor);
    if (startFactor <= 0 || startFactor > 1) {
      throw rangeError('LinearLR(startFactor)', 'a number in (0, 1]', startFactor);
    }
    this.endFactor = checkFinite('LinearLR(endFactor)', endFactor);
    if (endFactor < 0 || endFactor > 1) {
      throw rangeError('LinearLR(endFactor)', 'a number in [0, 1]', endFactor);
    }
    this.totalIters = checkInt('LinearLR(totalIters)', totalIters, 1);
    this.start();
  }

  protected getLr(): number[] {
    const { lastEpoch: t, startFactor: s, endFactor: e, totalIters: n } = this;
    const lrs = this.currentLrs();
    if (t === 0) return lrs.map((lr) => lr * s);
    if (t > n) return lrs;
    return lrs.map((lr) => lr * (1 + (e - s) / (n * s + (t - 1) * (e - s))));
  }
}

export interface ReduceLROnPlateauOptions {
  /** 'min' (default): lower metric is better; 'max': higher is. */
  mode?: 'min' | 'max';
  /** Multiplies the learning rate on a plateau (default 0.1). */
  factor?: number;
  /** Epochs without improvement tolerated before reducing (default 10). */
  patience?: number;
  /** Least change that counts as an improvement (default 1e-4). */
  threshold?: number;
  /** 'rel' (default): relative to the best; 'abs': absolute. */
  thresholdMode?: 'rel' | 'abs';
  /** Epochs to wait after a reduction before counting again (default 0). */
  cooldown?: number;
  /** Lower bound of the learning rate, one for all groups or one per group (default 0). */
  minLr?: number | number[];
  /** A reduction smaller than this is skipped (default 1e-8). */
  eps?: number;
}

/**
 * Reduces the learning rate by `factor` when a metric has stopped improving for `patience`
 * epochs, as torch.optim.lr_scheduler.ReduceLROnPlateau; step() takes the metric.
 *
 * @example
 * const scheduler = new ReduceLROnPlateau(optimizer, { patience: 2 });
 * scheduler.step(validationLoss);
 */
export class ReduceLROnPlateau {
  readonly optimizer: ScheduledOptimizer;
  mode: 'min' | 'max';
  factor: number;
  patience: number;
  threshold: number;
  thresholdMode: 'rel' | 'abs';
  cooldown: number;
  minLrs: number[];
  eps: number;
  best: number;
  numBadEpochs = 0;
  cooldownCounter = 0;
  lastEpoch = 0;
  protected lastLr: number[];

  constructor(optimizer: ScheduledOptimizer, options: ReduceLROnPlateauOptions = {}) {
    const where = 'ReduceLROnPlateau';
    this.optimizer = checkOptimizer(where, optimizer);
    const { mode = 'min', factor = 0.1, patience = 10, threshold = 1e-4 } = options;
    const { thresholdMode = 'rel', cooldown = 0, minLr = 0, eps = 1e-8 } = options;
    if (mode !== 'min' && mode !== 'max')
      throw rangeError(`${where}(mode)`, "'min' or 'max'", mode);
    if (thresholdMode !== 'rel' && thresholdMode !== 'abs') {
      throw rangeError(`${where}(thresholdMode)`, "'rel' or 'abs'", thresholdMode);
    }
    this.mode = mode;
    this.thresholdMode = thresholdMode;
    this.factor = checkFinite(`${where}(factor)`, factor);
    if (factor >= 1 || factor < 0)
      throw rangeError(`${where}(factor)`, 'a number in [0, 1)', factor);
    this.patience = checkInt(`${where}(patience)`, patience, 0);
    this.threshold = checkFinite(`${where}(threshold)`, threshold);
    this.cooldown = checkInt(`${where}(cooldown)`, cooldown, 0);
    this.eps = checkFinite(`${where}(eps)`, eps);
    const groups = optimizer.paramGroups.length;
    const minLrs = Array.isArray(minLr) ? [...minLr] : new Array<number>(groups).fill(minLr);
    if (minLrs.length !== groups) {
      throw rangeError(`${where}(minLr)`, `a number or ${groups} numbers, one per group`, minLr);
    }
    minLrs.forEach((v, i) => checkFinite(`${where}(minLr[${i}])`, v));
    this.minLrs = minLrs;
    this.best = mode === 'min' ? Infinity : -Infinity;
    this.lastLr = optimizer.paramGroups.map((g) => g.lr);
  }

  /** Records one epoch's metric and reduces the learning rates after a plateau. */
  step(metric: number): void {
    if (typeof metric !== 'number' || Number.isNaN(metric)) {
      throw typeError('ReduceLROnPlateau.step(metric)', 'a number', metric);
    }
    this.lastEpoch += 1;
    if (this.isBetter(metric)) {
      this.best = metric;
      this.numBadEpochs = 0;
    } else {
      this.numBadEpochs += 1;
    }
    if (this.cooldownCounter > 0) {
      this.cooldownCounter -= 1;
      this.numBadEpochs = 0;
    }
    if (this.numBadEpochs > this.patience) {
      this.reduce();
      this.cooldownCounter = this.cooldown;
      this.numBadEpochs = 0;
    }
    this.lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  getLastLr(): number[] {
    return [...this.lastLr];
  }

  stateDict(): SchedulerStateDict {
    return LRScheduler.prototype.stateDict.call(this);
  }

  loadStateDict(state: SchedulerStateDict): void {
    LRScheduler.prototype.loadStateDict.call(this, state);
  }

  private reduce(): void {
    this.optimizer.paramGroups.forEach((g, i) => {
      const next = Math.max(g.lr * this.factor, this.minLrs[i]);
      if (g.lr - next > this.eps) g.lr = next;
    });
  }

  private isBetter(a: number): boolean {
    const { best, threshold } = this;
    if (this.mode === 'min') {
      return this.thresholdMode === 'rel' ? a < best * (1 - threshold) : a < best - threshold;
    }
    return this.thresholdMode === 'rel' ? a > best * (threshold + 1) : a > best + threshold;
  }
}
