export { Module } from './module';
export type { LoadStateDictResult } from './module';
export { Linear } from './linear';
export { ReLU, Sigmoid, Tanh } from './activation';
export { Sequential } from './sequential';
export { MSELoss, CrossEntropyLoss, BCELoss, BCEWithLogitsLoss } from './loss';
export type { Reduction } from './functional';
export {
  linear,
  relu,
  sigmoid,
  tanh,
  softmax,
  logSoftmax,
  mseLoss,
  crossEntropy,
  binaryCrossEntropy,
  binaryCrossEntropyWithLogits,
} from './functional';
export * as init from './init';
export { clipGradNorm_, clipGradValue_, type ClipGradNormOptions } from './clip';
export { Embedding, type IndexInput } from './embedding';
export { RNN, LSTM, GRU, type RecurrentOptions } from './recurrent';
