import type { Tensor } from '../tensor';
import { typeError } from '../errors';
import { gelu, relu, sigmoid, tanh } from './functional';
import type { GeluApproximate } from './functional';
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

/**
 * x · Φ(x) elementwise, PyTorch's `nn.GELU`: exact by default, `new GELU('tanh')` for the tanh
 * approximation.
 */
export class GELU extends Module {
  readonly approximate: GeluApproximate;

  constructor(approximate: GeluApproximate = 'none') {
    super();
    if (approximate !== 'none' && approximate !== 'tanh') {
      throw typeError('GELU(approximate)', "'none' or 'tanh'", approximate);
    }
    this.approximate = approximate;
  }

  forward(x: Tensor): Tensor {
    return gelu(x, this.approximate);
  }

  protected override extraRepr(): string {
    return `approximate='${this.approximate}'`;
  }
}
