import { setImmediate as nextTurn } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';

import { Tensor, noGrad } from '../tensor';
import { Module } from '../nn/module';
import { checkInt, rangeError, shapeString, typeError } from '../errors';
import { debug } from '../debug';
import { countCorrect } from './metrics';
import type { Target } from './metrics';
import { EpochProgress } from './progress';

/** One batch as a loader yields it: inputs and targets. */
export type Batch = readonly [Tensor, Target];

/** Anything that yields batches: a DataLoader, an array of batches, an async generator. */
export type BatchSource = Iterable<Batch> | AsyncIterable<Batch>;

/** A loss: a function of output and target returning a one-element tensor, or a loss Module. */
export type LossFn = ((output: Tensor, target: Target) => Tensor) | Module;

/** What fit needs of an optimizer (SGD, Adam, AdamW). */
export interface OptimizerLike {
  zeroGrad(): void;
  step(): void;
}

/** The metrics fit can track besides the loss. */
export type Metric = 'accuracy';

/** What onBatchEnd receives. */
export interface BatchLogs {
  epoch: number;
  /** The batch's mean loss. */
  loss: number;
  /** The batch's accuracy, when the 'accuracy' metric is on. */
  accuracy?: number;
  /** The number of samples in the batch. */
  size: number;
}

/** One epoch's record: sample-weighted means over the epoch. */
export interface EpochLogs {
  epoch: number;
  loss: number;
  accuracy?: number;
  valLoss?: number;
  valAccuracy?: number;
  /** Training samples per second over the epoch (validation excluded). */
  samplesPerSec: number;
  samples: number;
  batches: number;
  /** Wall time of the epoch's training batches, in seconds. */
  seconds: number;
}

/** What fit resolves with. */
export interface History {
  /** One record per completed epoch. */
  epochs: EpochLogs[];
}

/** Hooks called by fit; each may return a promise, which fit awaits. */
export interface Callbacks {
  onEpochBegin?(epoch: number): void | Promise<void>;
  onBatchEnd?(step: number, logs: BatchLogs): void | Promise<void>;
  onEpochEnd?(epoch: number, logs: EpochLogs): void | Promise<void>;
}

export interface FitOptions {
  /** Passes over the training data. */
  epochs: number;
  optimizer: OptimizerLike;
  loss: LossFn;
  metrics?: Metric[];
  /** Held-out data evaluated after each epoch (valLoss, valAccuracy). */
  validation?: BatchSource;
  callbacks?: Callbacks;
  /** Show a progress bar on stderr (off by default: library code prints nothing unasked). */
  progress?: boolean;
  /** Stops training at the next batch boundary; fit then rejects with `signal.reason`. */
  signal?: AbortSignal;
  /** Yield to the event loop after every this many batches (default 1). */
  yieldEvery?: number;
}

/** What evaluate resolves with: sample-weighted means over the loader. */
export interface EvaluateResult {
  loss: number;
  accuracy: number;
  samples: number;
}

/**
 * Trains `model` on `trainLoader` for `epochs` epochs. Each batch runs forward, loss,
 * `optimizer.zeroGrad()`, backward and `optimizer.step()` in training mode; `validation` is
 * evaluated after each epoch. Between batches fit yields to the event loop, so a server keeps
 * answering while it trains.
 *
 * Aborting `signal` stops at the next batch boundary (the model keeps the weights of the last
 * completed step) and fit rejects with `signal.reason`, an AbortError unless the caller gave
 * another reason. A loss that is NaN or infinite stops fit with a RangeError naming the epoch
 * and step, before that batch changes any weight.
 *
 * Epochs and steps are counted from 0 in callbacks and logs, from 1 in messages.
 *
 * @example
 * const history = await fit(model, trainLoader, {
 *   epochs: 10,
 *   optimizer: new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 }),
 *   loss: crossEntropy,
 *   metrics: ['accuracy'],
 *   validation: testLoader,
 * });
 * history.epochs.at(-1)?.valAccuracy;
 */
export async function fit(
  model: Module,
  trainLoader: BatchSource,
  options: FitOptions,
): Promise<History> {
  const opts = checkFitOptions(model, trainLoader, options);
  const { epochs, optimizer, callbacks, signal, yieldEvery } = opts;
  const lossFn = asLossFunction(opts.loss, 'fit(loss)');
  const trackAccuracy = opts.metrics.includes('accuracy');
  const progress = opts.progress ? new EpochProgress(epochs) : null;
  const history: History = { epochs: [] };
  let expectedBatches = knownBatchCount(trainLoader);

  signal?.throwIfAborted();
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      await callbacks.onEpochBegin?.(epoch);
      progress?.start(epoch, expectedBatches);
      model.train();

      // The epoch's training batches.
      let samples = 0;
      let lossSum = 0;
      let correct = 0;
      let step = 0;
      const started = performance.now();
      for await (const batch of trainLoader) {
        const [x, y] = unpackBatch(batch, 'fit(trainLoader)');
        const size = x.shape[0] ?? 1;

        const output = model.forward(x);
        const loss = checkLoss(lossFn(output, y), 'fit(loss)');
        const value = loss.item();
        if (!Number.isFinite(value)) {
          throw rangeError(
            `fit: at epoch ${epoch + 1} of ${epochs}, step ${step + 1}`,
            'a finite loss',
            value,
          );
        }
        optimizer.zeroGrad();
        loss.backward();
        optimizer.step();

        const batchCorrect = trackAccuracy ? countCorrect(output, y) : 0;
        samples += size;
        lossSum += value * size;
        correct += batchCorrect;
        const logs: BatchLogs = { epoch, loss: value, size };
        if (trackAccuracy) logs.accuracy = batchCorrect / size;
        await callbacks.onBatchEnd?.(step, logs);
        step++;

        progress?.update(step, {
          loss: lossSum / samples,
          accuracy: trackAccuracy ? correct / samples : undefined,
          samplesPerSec: (1000 * samples) / (performance.now() - started),
        });
        if (step % yieldEvery === 0) await nextTurn();
        signal?.throwIfAborted();
      }
      const seconds = (performance.now() - started) / 1000;
      progress?.stop();
      if (step === 0) throw noBatches(epoch);
      expectedBatches = step;

      // The epoch's record, with validation.
      const logs: EpochLogs = {
        epoch,
        loss: lossSum / samples,
        samplesPerSec: samples / seconds,
        samples,
        batches: step,
        seconds,
      };
      if (trackAccuracy) logs.accuracy = correct / samples;
      if (opts.validation !== undefined) {
        const val = await evaluate(model, opts.validation, lossFn, { signal, yieldEvery });
        logs.valLoss = val.loss;
        if (trackAccuracy) logs.valAccuracy = val.accuracy;
      }
      history.epochs.push(logs);
      debug('fit: epoch %d/%d %o', epoch + 1, epochs, logs);
      await callbacks.onEpochEnd?.(epoch, logs);
    }
  } finally {
    progress?.stop();
  }
  return history;
}

/**
 * The sample-weighted mean loss and accuracy of `model` over `loader`, computed in evaluation
 * mode without recording gradients. The model's training mode is restored afterwards.
 * Accuracy follows the rules of fit's 'accuracy' metric (arg-max for several classes, 0.5
 * threshold for one output).
 *
 * @example
 * const { loss, accuracy } = await evaluate(model, testLoader, crossEntropy);
 */
export async function evaluate(
  model: Module,
  loader: BatchSource,
  lossFn: LossFn,
  { signal, yieldEvery = 1 }: { signal?: AbortSignal; yieldEvery?: number } = {},
): Promise<EvaluateResult> {
  if (!(model instanceof Module)) throw typeError('evaluate(model)', 'a Module', model);
  checkSource('evaluate(loader)', loader);
  const loss = asLossFunction(lossFn, 'evaluate(lossFn)');
  checkInt('evaluate(yieldEvery)', yieldEvery, 1);

  const wasTraining = model.training;
  let samples = 0;
  let lossSum = 0;
  let correct = 0;
  let step = 0;
  model.eval();
  try {
    for await (const batch of loader) {
      const [x, y] = unpackBatch(batch, 'evaluate(loader)');
      const size = x.shape[0] ?? 1;

      // Grad mode is global: switch it off only for this synchronous stretch, never across
      // the await below, where other code may run.
      noGrad(() => {
        const output = model.forward(x);
        lossSum += checkLoss(loss(output, y), 'evaluate(lossFn)').item() * size;
        correct += countCorrect(output, y);
      });
      samples += size;
      step++;

      if (step % yieldEvery === 0) await nextTurn();
      signal?.throwIfAborted();
    }
  } finally {
    model.train(wasTraining);
  }
  if (samples === 0) {
    throw new RangeError('evaluate: expected a loader with at least one batch, received none');
  }
  return { loss: lossSum / samples, accuracy: correct / samples, samples };
}

function noBatches(epoch: number): RangeError {
  if (epoch === 0) {
    return new RangeError('fit: expected a training loader with at least one batch, received none');
  }
  // A generator or other one-shot iterable is used up after the first epoch.
  return new RangeError(
    `fit: expected a training loader that yields batches every epoch, received none in epoch ` +
      `${epoch + 1} (a generator runs once: pass a DataLoader or an array of batches)`,
  );
}

interface CheckedFitOptions {
  epochs: number;
  optimizer: OptimizerLike;
  loss: LossFn;
  metrics: Metric[];
  validation?: BatchSource;
  callbacks: Callbacks;
  progress: boolean;
  signal?: AbortSignal;
  yieldEvery: number;
}

function checkFitOptions(
  model: unknown,
  trainLoader: unknown,
  options: FitOptions,
): CheckedFitOptions {
  if (!(model instanceof Module)) throw typeError('fit(model)', 'a Module', model);
  checkSource('fit(trainLoader)', trainLoader);
  if (options === null || typeof options !== 'object') {
    throw typeError('fit(options)', 'an object with epochs, optimizer and loss', options);
  }
  const {
    epochs,
    optimizer,
    loss,
    metrics = [],
    validation,
    callbacks = {},
    progress = false,
    signal,
    yieldEvery = 1,
  } = options;

  checkInt('fit(epochs)', epochs, 1);
  if (
    optimizer === null ||
    typeof optimizer !== 'object' ||
    typeof optimizer.step !== 'function' ||
    typeof optimizer.zeroGrad !== 'function'
  ) {
    throw typeError('fit(optimizer)', 'an optimizer with step() and zeroGrad()', optimizer);
  }
  asLossFunction(loss, 'fit(loss)');
  if (!Array.isArray(metrics)) {
    throw typeError('fit(metrics)', "an array like ['accuracy']", metrics);
  }
  metrics.forEach((metric: unknown, i) => {
    if (typeof metric !== 'string') throw typeError(`fit(metrics[${i}])`, "'accuracy'", metric);
    if (metric !== 'accuracy') throw rangeError(`fit(metrics[${i}])`, "'accuracy'", metric);
  });
  if (validation !== undefined) checkSource('fit(validation)', validation);
  if (callbacks === null || typeof callbacks !== 'object') {
    throw typeError('fit(callbacks)', 'an object of callback functions', callbacks);
  }
  if (typeof progress !== 'boolean') throw typeError('fit(progress)', 'a boolean', progress);
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw typeError('fit(signal)', 'an AbortSignal', signal);
  }
  checkInt('fit(yieldEvery)', yieldEvery, 1);

  return {
    epochs,
    optimizer,
    loss,
    metrics,
    validation,
    callbacks,
    progress,
    signal,
    yieldEvery,
  };
}

function asLossFunction(loss: LossFn, where: string): (output: Tensor, target: Target) => Tensor {
  if (loss instanceof Module) return (output, target) => loss.forward(output, target);
  if (typeof loss === 'function') return loss;
  throw typeError(where, 'a function (output, target) => Tensor or a loss Module', loss);
}

function checkSource(where: string, source: unknown): void {
  const iterable =
    source !== null &&
    typeof source === 'object' &&
    (typeof (source as Iterable<unknown>)[Symbol.iterator] === 'function' ||
      typeof (source as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function');
  if (!iterable) throw typeError(where, 'an iterable of [input, target] batches', source);
}

function unpackBatch(batch: unknown, where: string): Batch {
  if (!Array.isArray(batch) || batch.length < 2 || !(batch[0] instanceof Tensor)) {
    throw typeError(where, 'batches of [input Tensor, target]', batch);
  }
  return batch as unknown as Batch;
}

function checkLoss(loss: unknown, where: string): Tensor {
  if (!(loss instanceof Tensor) || loss.numel !== 1) {
    if (loss instanceof Tensor) {
      throw new RangeError(
        `${where}: expected a one-element Tensor, received shape ${shapeString(loss.shape)}`,
      );
    }
    throw typeError(where, 'a one-element Tensor', loss);
  }
  return loss;
}

/** The number of batches per epoch when the loader says (PyTorch's len(DataLoader)). */
function knownBatchCount(loader: BatchSource): number {
  const length = (loader as { length?: unknown }).length;
  return typeof length === 'number' && Number.isInteger(length) && length >= 0 ? length : 0;
}
