export { Tensor, tensor, zeros, ones, full, randn, rand, uniform } from './tensor';
export type { DType, NestedArray, TensorOptions } from './tensor';
export {
  manualSeed,
  Generator,
  defaultGenerator,
  randomFloat,
  randomInt,
  randomNormal,
  getRngState,
  setRngState,
} from './random';
export { noGrad, isGradEnabled, setGradEnabled } from '../autograd/grad-mode';
