export { fit, evaluate } from './fit';
export type {
  Batch,
  BatchSource,
  BatchLogs,
  Callbacks,
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
