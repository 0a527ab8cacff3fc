import type { Tensor } from '../tensor';
import { relu, sigmoid, tanh } from './functional';
import { Module } from './module';

/** max(0, x) elementwise, PyTorch's `nn.ReLU`. */
export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** 1 / (1 + e^-x) elementwise, PyTorch's `nn.Sigmoid`. */
export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
}

/** tanh(x) elementwise, PyTorch's `nn.Tanh`. */
export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return tanh(x);
  }
}
