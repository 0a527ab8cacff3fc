export {
  Optimizer,
  type OptimizerStateDict,
  type ParamGroup,
  type ParamGroupInput,
  type ParamState,
} from './optimizer';
export { SGD, type SgdOptions } from './sgd';
export { Adam, AdamW, type AdamOptions } from './adam';
export { RMSprop, type RmspropOptions } from './rmsprop';
export { Adagrad, type AdagradOptions } from './adagrad';
export {
  LRScheduler,
  StepLR,
  CosineAnnealingLR,
  LinearLR,
  ReduceLROnPlateau,
  type ReduceLROnPlateauOptions,
  type ScheduledOptimizer,
  type SchedulerStateDict,
} from './lr-scheduler';
