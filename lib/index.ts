/// <reference types="node" preserve="true" />
// The declarations use Node's types (Buffer, AbortSignal, streams); @types/node is a dependency.
/**
 * nodegrad: train neural networks in Node.js. Tensors with reverse-mode autograd, layers,
 * losses and optimizers with PyTorch's names, data loading, safetensors and a fit loop; the
 * arithmetic runs in a native C++ core (OpenBLAS + SIMD) or, where the addon cannot load, in
 * a pure-TypeScript backend with the same results.
 *
 * @example
 * import { nn, optim, tensor } from 'nodegrad';
 * const model = new nn.Sequential(new nn.Linear(2, 8), new nn.ReLU(), new nn.Linear(8, 1));
 */
export * from './tensor';
export * from './backend';
export * as ops from './autograd/ops';
export * as F from './nn/functional';
export * as nn from './nn';
export * as optim from './optim';
export * from './data';
export * from './io';
export * from './train';
