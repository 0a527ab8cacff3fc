import { setImmediate as nextTurn } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';

import { Tensor, noGrad } from '../tensor';
import { getRngState, setRngState } from '../tensor/random';
import { DataLoader } from '../data/dataloader';
import { Module } from '../nn/module';
import { crossEntropy } from '../nn/functional';
import { CrossEntropyLoss } from '../nn/loss';
import { checkInt, rangeError, shapeString, typeError } from '../errors';
import { debug } from '../debug';
import { countCorrect } from './metrics';
import type { Target } from './metrics';
import { EpochProgress } from './progress';
import {
  isStateful,
  loadCheckpoint,
  saveCheckpoint,
  type Stateful,
  type TrainingPosition,
} from './checkpoint';
import { checkBatch, checkTrainingSet, classCount } from './validate';

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
  /** Saved in checkpoints when present. */
  stateDict?(): unknown;
  loadStateDict?(state: never): void;
}

/** When and where fit saves checkpoints; each write is atomic. */
export interface CheckpointOptions {
  /** The checkpoint file, replaced at each save. */
  path: string;
  /** Save after every this many training steps (batches). */
  everySteps?: number;
  /** Save after each epoch, after validation and onEpochEnd (default true). */
  everyEpoch?: boolean;
  /** An LR scheduler or anything else with stateDict() / loadStateDict() to save too. */
  scheduler?: Stateful;
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
  /** Save checkpoints: model, optimizer, scheduler, generator states, epoch and step. */
  checkpoint?: CheckpointOptions;
  /**
   * A checkpoint file to continue from: fit restores everything it saved, replays the data
   * order of the interrupted epoch, and trains on to `epochs` in all. The weights come out
   * bit for bit as in a run that was never interrupted.
   */
  resume?: string;
  /**
   * What a NaN or infinite loss does: 'throw' (default) stops fit with an error naming the
   * step; 'warn' emits a process warning naming it and skips that batch's update.
   */
  nonFiniteLoss?: 'throw' | 'warn';
  /**
   * Check the training data for NaN or infinite values, class indices outside the model's
   * outputs, and samples that do not batch with the others (default true): all of it before
   * the first step for a DataLoader or an array of batches, other sources batch by batch
   * before their step. A DataLoader over a dataset other than a TensorDataset has every
   * sample read and batched once, in order, for the check; `false` skips that pass.
   */
  validate?: boolean;
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
  const loaderGenerator = trainLoader instanceof DataLoader ? trainLoader.generator : null;
  let expectedBatches = knownBatchCount(trainLoader);

  signal?.throwIfAborted();
  const resumed = opts.resume === undefined ? null : restore(model, opts);
  const classTargets = opts.loss === crossEntropy || opts.loss instanceof CrossEntropyLoss;
  const checked = !opts.validate || checkTrainingSet(model, trainLoader, classTargets);
  let classes: number | null | undefined;
  let globalStep = resumed?.globalStep ?? 0;
  try {
    for (let epoch = resumed?.epoch ?? 0; epoch < epochs; epoch++) {
      // Where the epoch began: an interrupted one begins again from its saved generators, so
      // its shuffle comes out the same.
      const at = epoch === resumed?.epoch ? resumed : null;
      if (at !== null) {
        setRngState(Uint32Array.from(at.rngAtEpochStart));
        if (at.loaderRngAtEpochStart !== null) {
          loaderGenerator?.setState(Uint32Array.from(at.loaderRngAtEpochStart));
        }
      }
      const rngAtEpochStart = Array.from(getRngState());
      const loaderRngAtEpochStart = loaderGenerator ? Array.from(loaderGenerator.getState()) : null;
      await callbacks.onEpochBegin?.(epoch);
      progress?.start(epoch, expectedBatches);
      model.train();

      // The epoch's training batches; those an interrupted epoch already trained are skipped.
      let samples = at?.samples ?? 0;
      let lossSum = at?.lossSum ?? 0;
      let correct = at?.correct ?? 0;
      let step = at?.step ?? 0;
      let seen = 0;
      const started = performance.now();
      for await (const batch of trainLoader) {
        seen++;
        if (at !== null && at.step > 0 && seen === 1) setRngState(Uint32Array.from(at.rng));
        if (at !== null && seen <= at.step) continue;
        const [x, y] = unpackBatch(batch, 'fit(trainLoader)');
        const size = x.shape[0] ?? 1;
        if (!checked) {
          classes ??= classCount(model, x);
          const sample = (row: number) => `epoch ${epoch + 1}, step ${step + 1}, sample ${row}`;
          checkBatch('fit(trainLoader)', [x, y], classes, sample, classTargets);
        }

        const result = trainStep(
          model,
          lossFn,
          opts,
          x,
          y,
          `epoch ${epoch + 1} of ${epochs}, step ${step + 1}`,
        );
        if (result !== null) {
          const batchCorrect = trackAccuracy ? countCorrect(result.output, y) : 0;
          samples += size;
          lossSum += result.loss * size;
          correct += batchCorrect;
          const logs: BatchLogs = { epoch, loss: result.loss, size };
          if (trackAccuracy) logs.accuracy = batchCorrect / size;
          await callbacks.onBatchEnd?.(step, logs);
        }
        step++;
        globalStep++;

        const everySteps = opts.checkpoint?.everySteps;
        if (everySteps !== undefined && globalStep % everySteps === 0) {
          const position = { epoch, step, globalStep, rngAtEpochStart, loaderRngAtEpochStart };
          checkpoint(model, opts, { ...position, samples, lossSum, correct });
        }
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
      if (opts.checkpoint?.everyEpoch ?? opts.checkpoint !== undefined) {
        const next = Array.from(getRngState());
        const loaderNext = loaderGenerator ? Array.from(loaderGenerator.getState()) : null;
        checkpoint(model, opts, {
          epoch: epoch + 1,
          step: 0,
          globalStep,
          rngAtEpochStart: next,
          loaderRngAtEpochStart: loaderNext,
          samples: 0,
          lossSum: 0,
          correct: 0,
        });
      }
    }
  } finally {
    progress?.stop();
  }
  return history;
}

/**
 * One training step: forward, loss, backward, update. A NaN or infinite loss throws naming
 * the step before any weight changes, or with nonFiniteLoss 'warn' emits a warning and skips
 * the update (returns null).
 */
function trainStep(
  model: Module,
  lossFn: (output: Tensor, target: Target) => Tensor,
  opts: CheckedFitOptions,
  x: Tensor,
  y: Target,
  where: string,
): { output: Tensor; loss: number } | null {
  const output = model.forward(x);
  const loss = checkLoss(lossFn(output, y), 'fit(loss)');
  const value = loss.item();
  if (!Number.isFinite(value)) {
    const error = rangeError(`fit: at ${where}`, 'a finite loss', value);
    if (opts.nonFiniteLoss === 'throw') throw error;
    process.emitWarning(`${error.message}; the step was skipped`, 'NodegradWarning');
    return null;
  }
  opts.optimizer.zeroGrad();
  loss.backward();
  opts.optimizer.step();
  return { output, loss: value };
}

/** Saves a checkpoint of where training stands (the generator's state is taken now). */
function checkpoint(
  model: Module,
  opts: CheckedFitOptions,
  position: Omit<TrainingPosition, 'rng'>,
): void {
  const options = opts.checkpoint as CheckpointOptions;
  saveCheckpoint(options.path, {
    model,
    optimizer: opts.optimizer,
    scheduler: options.scheduler,
    position: { ...position, rng: Array.from(getRngState()) },
  });
  debug('fit: checkpoint at epoch %d, step %d -> %s', position.epoch, position.step, options.path);
}

/** Loads fit's `resume` checkpoint into the model, optimizer and scheduler. */
function restore(model: Module, opts: CheckedFitOptions): TrainingPosition {
  const saved = loadCheckpoint(opts.resume as string);
  model.loadStateDict(saved.model);
  if (saved.optimizer !== null && isStateful(opts.optimizer)) {
    opts.optimizer.loadStateDict(saved.optimizer as never);
  }
  const scheduler = opts.checkpoint?.scheduler;
  if (scheduler !== undefined && saved.scheduler !== null) {
    scheduler.loadStateDict(saved.scheduler as never);
  }
  debug('fit: resumed from %s at %o', opts.resume, saved.position);
  return saved.position;
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
  checkpoint?: CheckpointOptions;
  resume?: string;
  nonFiniteLoss: 'throw' | 'warn';
  validate: boolean;
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
    checkpoint,
    resume,
    nonFiniteLoss = 'throw',
    validate = true,
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
  if (checkpoint !== undefined) checkCheckpointOptions(checkpoint);
  if (resume !== undefined && (typeof resume !== 'string' || resume === '')) {
    throw typeError('fit(resume)', 'a checkpoint path', resume);
  }
  if (nonFiniteLoss !== 'throw' && nonFiniteLoss !== 'warn') {
    throw rangeError('fit(nonFiniteLoss)', "'throw' or 'warn'", nonFiniteLoss);
  }
  if (typeof validate !== 'boolean') throw typeError('fit(validate)', 'a boolean', validate);

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
    checkpoint,
    resume,
    nonFiniteLoss,
    validate,
  };
}

function checkCheckpointOptions(options: CheckpointOptions): void {
  if (options === null || typeof options !== 'object') {
    throw typeError('fit(checkpoint)', '{ path, everySteps?, everyEpoch?, scheduler? }', options);
  }
  const { path, everySteps, everyEpoch, scheduler } = options;
  if (typeof path !== 'string' || path === '') {
    throw typeError('fit(checkpoint.path)', 'a file path', path);
  }
  if (everySteps !== undefined) checkInt('fit(checkpoint.everySteps)', everySteps, 1);
  if (everyEpoch !== undefined && typeof everyEpoch !== 'boolean') {
    throw typeError('fit(checkpoint.everyEpoch)', 'a boolean', everyEpoch);
  }
  if (scheduler !== undefined && !isStateful(scheduler)) {
    throw typeError('fit(checkpoint.scheduler)', 'an object with stateDict()', scheduler);
  }
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
