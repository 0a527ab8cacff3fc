import { loadWithMetadata, save } from '../io/file';
import { rangeError, typeError } from '../errors';
import { Module } from '../nn/module';
import type { OptimizerStateDict, ParamState } from '../optim/optimizer';
import { Tensor } from '../tensor';
import type { FloatArray } from '../backend/backend';

/** Anything whose state a checkpoint can hold: an optimizer, an LR scheduler. */
export interface Stateful {
  stateDict(): unknown;
  loadStateDict(state: never): void;
}

/** Where a training run stands: what fit needs, besides weights, to continue bit for bit. */
export interface TrainingPosition {
  /** The epoch in progress (from 0). */
  epoch: number;
  /** Batches of that epoch already trained. */
  step: number;
  /** Batches trained since the run began. */
  globalStep: number;
  /** The global generator's state now, and when the epoch began (its shuffle was drawn then). */
  rng: number[];
  rngAtEpochStart: number[];
  /** The DataLoader's own generator when the epoch began, when it has one. */
  loaderRngAtEpochStart: number[] | null;
  /** The epoch's running sums, so its record comes out the same as without a break. */
  samples: number;
  lossSum: number;
  correct: number;
}

/** What a checkpoint file holds. */
export interface Checkpoint {
  model: Record<string, Tensor>;
  optimizer: OptimizerStateDict | null;
  scheduler: unknown;
  position: TrainingPosition;
}

const FORMAT = 'nodegrad.checkpoint';
const VERSION = 1;

/** A bound on what a checkpoint may name as its parameter positions, against hostile files. */
const MAX_POSITIONS = 1 << 24;

/**
 * Writes a checkpoint atomically (temporary file, fsync, rename: see {@link save}): the model's
 * state dict, the optimizer's buffers as tensors and its options as metadata, the scheduler's
 * state as JSON, and the training position. A crash during the write leaves the previous
 * checkpoint in place.
 *
 * @example
 * saveCheckpoint('run.ckpt', { model, optimizer, position });
 */
export function saveCheckpoint(
  file: string,
  parts: { model: Module; optimizer?: unknown; scheduler?: unknown; position: TrainingPosition },
): void {
  const tensors: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(parts.model.stateDict())) tensors[`model.${name}`] = t;

  let optimizer: object | null = null;
  if (isStateful(parts.optimizer)) {
    const dict = parts.optimizer.stateDict() as OptimizerStateDict;
    const steps: Record<number, number> = {};
    for (const [position, entry] of Object.entries(dict.state)) {
      steps[Number(position)] = entry.step;
      for (const [key, value] of Object.entries(entry)) {
        if (typeof value === 'number') continue;
        tensors[`optimizer.${position}.${key}`] = new Tensor(value, [value.length]);
      }
    }
    optimizer = { paramGroups: dict.paramGroups, steps };
  }
  const scheduler = isStateful(parts.scheduler) ? parts.scheduler.stateDict() : null;
  const info = { version: VERSION, position: parts.position, optimizer, scheduler };
  save(tensors, file, { format: FORMAT, [FORMAT]: JSON.stringify(info) });
}

/**
 * Reads a checkpoint written by {@link saveCheckpoint} (or by fit's `checkpoint` option).
 *
 * @example
 * const { model: weights, position } = loadCheckpoint('run.ckpt');
 */
export function loadCheckpoint(file: string): Checkpoint {
  const { tensors, metadata } = loadWithMetadata(file);
  const where = `loadCheckpoint(${JSON.stringify(file)})`;
  if (metadata.format !== FORMAT || typeof metadata[FORMAT] !== 'string') {
    throw rangeError(where, 'a checkpoint written by fit or saveCheckpoint', metadata);
  }
  let info: { version: number; position: TrainingPosition; optimizer: unknown; scheduler: unknown };
  try {
    info = JSON.parse(metadata[FORMAT]);
  } catch {
    throw rangeError(where, 'checkpoint metadata in JSON', metadata[FORMAT]);
  }
  if (info?.version !== VERSION) throw rangeError(`${where}: version`, `${VERSION}`, info?.version);
  checkPosition(where, info.position);

  const model: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(tensors)) {
    if (name.startsWith('model.')) model[name.slice('model.'.length)] = t;
  }
  return {
    model,
    optimizer: info.optimizer === null ? null : optimizerDict(where, info.optimizer, tensors),
    scheduler: info.scheduler,
    position: info.position,
  };
}

function optimizerDict(
  where: string,
  raw: unknown,
  tensors: Record<string, Tensor>,
): OptimizerStateDict {
  const saved = raw as { paramGroups?: unknown; steps?: Record<string, unknown> };
  if (
    !Array.isArray(saved?.paramGroups) ||
    saved.steps === null ||
    typeof saved.steps !== 'object'
  ) {
    throw rangeError(`${where}: optimizer`, '{ paramGroups, steps }', raw);
  }
  const state: Record<number, ParamState> = {};
  for (const [position, step] of Object.entries(saved.steps)) {
    const index = Number(position);
    if (!Number.isInteger(index) || index < 0 || index >= MAX_POSITIONS) {
      throw rangeError(`${where}: optimizer.steps`, 'parameter positions', position);
    }
    if (typeof step !== 'number') throw typeError(`${where}: optimizer.steps`, 'numbers', step);
    state[index] = { step };
  }
  for (const [name, t] of Object.entries(tensors)) {
    const match = /^optimizer\.(\d+)\.(\w+)$/.exec(name);
    if (match === null) continue;
    const entry = state[Number(match[1])];
    if (entry === undefined) throw rangeError(`${where}: ${name}`, 'a step count', undefined);
    entry[match[2]] = t.data as FloatArray;
  }
  return { state, paramGroups: saved.paramGroups as OptimizerStateDict['paramGroups'] };
}

function checkPosition(where: string, p: unknown): asserts p is TrainingPosition {
  const position = p as TrainingPosition;
  const counts = ['epoch', 'step', 'globalStep', 'samples', 'correct'] as const;
  const ok =
    position !== null &&
    typeof position === 'object' &&
    counts.every((key) => Number.isInteger(position[key]) && position[key] >= 0) &&
    typeof position.lossSum === 'number' &&
    isState(position.rng) &&
    isState(position.rngAtEpochStart) &&
    (position.loaderRngAtEpochStart === null || isState(position.loaderRngAtEpochStart));
  if (!ok) throw rangeError(`${where}: position`, 'epoch, step, generator states', p);
}

function isState(value: unknown): value is number[] {
  return (
    Array.isArray(value) &&
    value.length === 4 &&
    value.every((word) => Number.isInteger(word) && word >= 0 && word < 2 ** 32)
  );
}

export function isStateful(value: unknown): value is Stateful {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as Stateful).stateDict === 'function' &&
    typeof (value as Stateful).loadStateDict === 'function'
  );
}
