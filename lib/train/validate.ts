import { DataLoader } from '../data/dataloader';
import { TensorDataset } from '../data/dataset';
import { rangeError, typeError } from '../errors';
import { Module } from '../nn/module';
import { noGrad, Tensor } from '../tensor';
import type { Target } from './metrics';

/** What a batch is made of, for the checks: an input and a target. */
type Pair = readonly [Tensor, Target];

/**
 * The number of classes the model predicts: the last dimension of its output for `input`
 * when that is more than 1 (class indices are then checked against it), else null. Runs in
 * eval mode without gradients, so it changes no statistic and draws no random number.
 */
export function classCount(model: Module, input: Tensor): number | null {
  const wasTraining = model.training;
  model.eval();
  try {
    const output = noGrad(() => model.forward(input));
    const classes = output.ndim >= 2 ? output.shape[output.ndim - 1] : 1;
    return classes > 1 ? classes : null;
  } finally {
    model.train(wasTraining);
  }
}

/** The first index of a value that is NaN or infinite, or -1. */
function firstNonFinite(data: ArrayLike<number>): number {
  for (let i = 0; i < data.length; i++) {
    // value - value is NaN exactly when value is NaN or infinite.
    if (data[i] - data[i] !== 0) return i;
  }
  return -1;
}

/** Throws unless every value of `t` is finite; `sample(row)` names the sample of a row. */
function checkFinite(where: string, t: Tensor, sample: (row: number) => string): void {
  const i = firstNonFinite(t.data);
  if (i < 0) return;
  const rowSize = t.ndim === 0 ? 1 : t.numel / t.shape[0];
  const row = Math.floor(i / rowSize);
  throw rangeError(`${where}: ${sample(row)}`, 'finite values', t.data[i]);
}

/** Throws unless every label is an integer class index in [0, classes). */
function checkLabels(
  where: string,
  labels: ArrayLike<number>,
  classes: number,
  sample: (row: number) => string,
): void {
  for (let row = 0; row < labels.length; row++) {
    const label = labels[row];
    if (typeof label !== 'number') {
      throw typeError(`${where}: ${sample(row)}`, 'a class index', label);
    }
    if (!Number.isInteger(label) || label < 0 || label >= classes) {
      throw rangeError(`${where}: ${sample(row)}`, `a class index in [0, ${classes})`, label);
    }
  }
}

/**
 * Checks one batch: finite inputs and float targets, class indices within range. Targets are
 * class indices when they are an Int32Array or a list, or, with `classTargets` (the loss is
 * cross-entropy), a tensor of one value per sample, as numbers collate to.
 */
export function checkBatch(
  where: string,
  [x, y]: Pair,
  classes: number | null,
  sample: (row: number) => string,
  classTargets = false,
): void {
  const input = (row: number) => `${sample(row)} input`;
  const target = (row: number) => `${sample(row)} target`;
  checkFinite(where, x, input);
  if (y instanceof Tensor) {
    checkFinite(where, y, target);
    if (classTargets && classes !== null && y.ndim === 1)
      checkLabels(where, y.data, classes, target);
  } else if (classes !== null) {
    checkLabels(where, y, classes, target);
  } else if (Array.isArray(y)) {
    y.forEach((value, row) => {
      if (typeof value !== 'number') throw typeError(`${where}: ${target(row)}`, 'a number', value);
    });
  }
}

/**
 * Checks the whole training set before the first step when fit can see all of it — a
 * DataLoader (over a TensorDataset, its columns; over any other dataset, every sample, built
 * into batches in order) or an array of batches — so bad data stops the run before any weight
 * changes, and names the sample. Returns true when it did; other sources (generators) are
 * checked batch by batch as they arrive.
 */
export function checkTrainingSet(model: Module, source: unknown, classTargets = false): boolean {
  const where = 'fit(trainLoader)';
  if (source instanceof DataLoader && !(source.dataset instanceof TensorDataset)) {
    checkDatasetInOrder(model, source as DataLoader<unknown, unknown>, classTargets);
    return true;
  }
  if (source instanceof DataLoader && source.dataset instanceof TensorDataset) {
    const columns = source.dataset.columns as readonly (Tensor | Int32Array)[];
    const first = source.dataset.getBatch(Int32Array.of(0))[0];
    const classes = first instanceof Tensor ? classCount(model, first) : null;
    columns.forEach((column, c) => {
      const sample = (row: number) => `sample ${row} (column ${c})`;
      if (column instanceof Tensor) checkFinite(where, column, sample);
      // Targets (columns after the input) that are class indices: Int32Array always, a tensor
      // of one number per sample when the loss is cross-entropy.
      const labels = c > 0 && (!(column instanceof Tensor) || (classTargets && column.ndim === 1));
      if (labels && classes !== null) {
        checkLabels(where, column instanceof Tensor ? column.data : column, classes, sample);
      }
    });
    return true;
  }
  if (Array.isArray(source)) {
    const batches = source as Pair[];
    if (batches.length === 0 || !(batches[0]?.[0] instanceof Tensor)) return false;
    const classes = classCount(model, batches[0][0]);
    batches.forEach((batch, b) => {
      // A batch of the wrong form is reported by fit when it gets to it.
      if (!Array.isArray(batch) || !(batch[0] instanceof Tensor)) return;
      checkBatch(where, batch, classes, (row) => `batch ${b}, sample ${row}`, classTargets);
    });
    return true;
  }
  return false;
}

/**
 * Every sample of a loader's dataset, batched in dataset order as the loader batches them:
 * a sample that does not batch with the others (a ragged row, a string where a number
 * belongs), whose shape differs from sample 0's, or whose values fail checkBatch is named by
 * its index in the dataset.
 */
function checkDatasetInOrder(
  model: Module,
  loader: DataLoader<unknown, unknown>,
  classTargets: boolean,
): void {
  const where = 'fit(trainLoader)';
  const n = loader.dataset.length;
  let classes: number | null = null;
  let rowShapes: string[] | null = null;
  for (let start = 0; start < n; start += loader.batchSize) {
    const indices = Int32Array.from({ length: Math.min(loader.batchSize, n - start) }, (_, i) => {
      return start + i;
    });
    const batch = buildBatch(loader, indices);
    // A batch of the wrong form is reported by fit when it gets to it.
    if (!Array.isArray(batch) || batch.length < 2 || !(batch[0] instanceof Tensor)) return;
    const pair = batch as unknown as Pair;
    const shapes = pair.map(rowShape);
    if (rowShapes === null) {
      rowShapes = shapes;
      classes = classCount(model, pair[0]);
    }
    shapes.forEach((shape, part) => {
      if (shape === rowShapes![part]) return;
      const what = part === 0 ? 'input' : 'target';
      throw new RangeError(
        `${where}: sample ${start} ${what}: expected shape ${rowShapes![part]} like sample 0, ` +
          `received ${shape}`,
      );
    });
    checkBatch(where, pair, classes, (row) => `sample ${start + row}`, classTargets);
  }
}

/** One sample's shape within a batch part, e.g. "[784]"; "" for what is not a Tensor. */
function rowShape(part: unknown): string {
  return part instanceof Tensor ? `[${part.shape.slice(1).join(', ')}]` : '';
}

/**
 * loader.batchOf(indices); when that throws, the first sample that does not batch with sample
 * 0 of the dataset is found and named in the error, which keeps its kind.
 */
function buildBatch(loader: DataLoader<unknown, unknown>, indices: Int32Array): unknown {
  try {
    return loader.batchOf(indices);
  } catch (error) {
    for (const i of indices) {
      try {
        loader.batchOf(Int32Array.of(0, i));
      } catch (pairError) {
        throw renamed(pairError, `fit(trainLoader): sample ${i}: `);
      }
    }
    throw renamed(error, `fit(trainLoader): samples ${indices.join(', ')}: `);
  }
}

/** The same kind of error with `prefix` before its message, and the original as its cause. */
function renamed(error: unknown, prefix: string): Error {
  if (!(error instanceof Error)) return new TypeError(`${prefix}${String(error)}`);
  const Kind =
    error instanceof TypeError || error instanceof RangeError ? error.constructor : Error;
  return new (Kind as ErrorConstructor)(`${prefix}${error.message}`, { cause: error });
}
