export { fit, evaluate } from './fit';
export { saveCheckpoint, loadCheckpoint } from './checkpoint';
export type { Checkpoint, Stateful, TrainingPosition } from './checkpoint';
export type {
  Batch,
  BatchSource,
  BatchLogs,
  Callbacks,
  CheckpointOptions,
  EpochLogs,
  EvaluateResult,
  FitOptions,
  History,
  LossFn,
  Metric,
  OptimizerLike,
} from './fit';
export { countCorrect } from './metrics';
export type { Target } from './metrics';
export { trainInWorker, workerTask } from './worker';
export type { TrainInWorkerOptions, WorkerTaskContext } from './worker';
