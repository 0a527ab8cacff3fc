export { Module } from './module';
export type { LoadStateDictResult } from './module';
export { Linear } from './linear';
export { ReLU, Sigmoid, Tanh, GELU } from './activation';
export { LayerNorm } from './layernorm';
export type { LayerNormOptions } from './layernorm';
export { Sequential } from './sequential';
export { MSELoss, CrossEntropyLoss, BCELoss, BCEWithLogitsLoss } from './loss';
export type { Reduction, GeluApproximate } from './functional';
export {
  linear,
  relu,
  sigmoid,
  tanh,
  softmax,
  logSoftmax,
  layerNorm,
  gelu,
  mseLoss,
  crossEntropy,
  binaryCrossEntropy,
  binaryCrossEntropyWithLogits,
} from './functional';
