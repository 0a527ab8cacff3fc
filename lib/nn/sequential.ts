import type { Tensor } from '../tensor';
import { checkInt, typeError } from '../errors';
import { fusableActivation, linearActivation } from './fused';
import { Linear } from './linear';
import { Module } from './module';

/**
 * Runs its modules one after the other, PyTorch's `nn.Sequential`. The children are named
 * '0', '1', ... so the state dict reads '0.weight', '0.bias', '2.weight', ...
 *
 * @example
 * const model = new Sequential(new Linear(784, 256), new ReLU(), new Linear(256, 10));
 * model.at(2); // the second Linear
 */
/** '0', '1', ...: the children's names, made once. */
const names: string[] = [];
function childName(i: number): string {
  while (names.length <= i) names.push(String(names.length));
  return names[i];
}

export class Sequential extends Module {
  /** The number of modules. */
  readonly length: number;

  constructor(...modules: Module[]) {
    super();
    modules.forEach((module, i) => {
      if (!(module instanceof Module))
        throw typeError(`Sequential(argument ${i})`, 'a Module', module);
      this.registerModule(String(i), module);
    });
    this.length = modules.length;
  }

  /** The module at `index`; a negative index counts from the end. */
  at(index: number): Module {
    checkInt('Sequential.at(index)', index, -this.length, this.length - 1);
    return this.module(index < 0 ? index + this.length : index);
  }

  *[Symbol.iterator](): IterableIterator<Module> {
    for (let i = 0; i < this.length; i++) yield this.module(i);
  }

  /** The module registered as String(i), for an index already known to be in range. */
  private module(i: number): Module {
    return (this as unknown as Record<string, Module>)[childName(i)];
  }

  /**
   * Runs the modules in order. An nn.Linear directly followed by an nn.ReLU, nn.Sigmoid or
   * nn.Tanh runs as one fused op (nn/fused.ts), with the same results.
   */
  forward(x: Tensor): Tensor {
    let out = x;
    // A plain loop: forward runs every training step, and a generator costs an object per call.
    for (let i = 0; i < this.length; i++) {
      const module = this.module(i);
      if (module.constructor === Linear && i + 1 < this.length) {
        const activation = this.module(i + 1);
        const kind = fusableActivation(activation);
        if (kind !== null) {
          out = linearActivation(module as Linear, activation, kind, out);
          i++;
          continue;
        }
      }
      out = module.forward(out);
    }
    return out;
  }
}
