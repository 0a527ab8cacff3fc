export {
  Optimizer,
  type OptimizerStateDict,
  type ParamGroup,
  type ParamGroupInput,
  type ParamState,
} from './optimizer';
export { SGD, type SgdOptions } from './sgd';
export { Adam, AdamW, type AdamOptions } from './adam';
