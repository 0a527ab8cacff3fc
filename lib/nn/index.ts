export { Module } from './module';
export type { LoadStateDictResult } from './module';
export { Linear } from './linear';
export { ReLU, Sigmoid, Tanh, GELU } from './activation';
export { LayerNorm } from './layernorm';
export type { LayerNormOptions } from './layernorm';
export { BatchNorm1d, BatchNorm2d } from './batchnorm';
export type { BatchNormOptions } from './batchnorm';
export { Dropout } from './dropout';
export type { DropoutOptions } from './dropout';
export { MultiheadAttention } from './attention';
export type { AttentionMasks, MultiheadAttentionOptions } from './attention';
export { TransformerEncoderLayer } from './transformer';
export type { TransformerEncoderLayerOptions } from './transformer';
export { causalMask } from '../autograd/ops-attention';
export { GPT } from './gpt';
export type { GenerateOptions, GPTConfig, TokenBatch } from './gpt';
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
  batchNorm,
  dropout,
  gelu,
  mseLoss,
  crossEntropy,
  binaryCrossEntropy,
  binaryCrossEntropyWithLogits,
  conv1d,
  conv2d,
  maxPool2d,
  avgPool2d,
  adaptiveAvgPool2d,
} from './functional';
export * as init from './init';
export { clipGradNorm_, clipGradValue_, type ClipGradNormOptions } from './clip';
export { Embedding, type IndexInput } from './embedding';
export { RNN, LSTM, GRU, type RecurrentOptions } from './recurrent';
export { Conv1d, Conv2d, type Conv1dOptions, type Conv2dOptions } from './conv';
export {
  MaxPool2d,
  AvgPool2d,
  AdaptiveAvgPool2d,
  Flatten,
  type Pool2dOptions,
  type MaxPool2dOptions,
  type AvgPool2dOptions,
} from './pool';
