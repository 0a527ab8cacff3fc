/**
 * Sequential runs an nn.Linear directly followed by nn.ReLU, nn.Sigmoid or nn.Tanh as one
 * fused op (lib/nn/fused.ts). It must give the unfused modules' outputs and gradients exactly
 * (the same kernels in the same order), pass finite differences in float64, and leave every
 * other case, and every error, to the modules themselves.
 */

import { describe, expect, it } from 'vitest';

import { manualSeed, nn, randn, setBackend, Tensor, tensor } from '../lib';
import { nativeBackend } from '../lib/backend';
import { gradcheck } from './helpers/gradcheck';

type Activation = 'ReLU' | 'Sigmoid' | 'Tanh';
const ACTIVATIONS: Activation[] = ['ReLU', 'Sigmoid', 'Tanh'];

/**
 * Layer sizes on both sides of the fused op's split: a tiny layer (batch 4, 5 -> 3: 60
 * multiply-adds, 12 outputs) runs as plain loops, a larger one (batch 6, 20 -> 12) through the
 * kernels.
 */
const SIZES = {
  tiny: { batch: 4, inputs: 5, outputs: 3 },
  kernels: { batch: 6, inputs: 20, outputs: 12 },
};
type Size = keyof typeof SIZES;

function layers(
  activation: Activation,
  bias: boolean,
  dtype: 'float32' | 'float64' = 'float32',
  size: Size = 'tiny',
): [nn.Linear, nn.Module, nn.Linear] {
  const { inputs, outputs } = SIZES[size];
  manualSeed(7);
  return [
    new nn.Linear(inputs, outputs, bias, { dtype }),
    new nn[activation](),
    new nn.Linear(outputs, 2),
  ];
}

/** Outputs and every gradient of a loss through the layers, run fused or one by one. */
function run(fused: boolean, activation: Activation, bias: boolean, size: Size) {
  const [fc1, act, fc2] = layers(activation, bias, 'float32', size);
  manualSeed(8);
  const x = randn([SIZES[size].batch, SIZES[size].inputs]).requiresGrad_();
  const y = fused
    ? new nn.Sequential(fc1, act, fc2).forward(x)
    : fc2.forward(act.forward(fc1.forward(x)));
  y.mul(y).sum().backward();
  const grads = [x, fc1.weight, fc1.bias, fc2.weight].map((t) => t?.grad?.data ?? null);
  return { y: Array.from(y.data), grads: grads.map((g) => (g ? Array.from(g) : null)) };
}

const backends = nativeBackend() ? (['native', 'reference'] as const) : (['reference'] as const);

describe('Sequential fuses Linear + activation', () => {
  for (const backend of backends) {
    for (const activation of ACTIVATIONS) {
      for (const bias of [true, false]) {
        for (const size of Object.keys(SIZES) as Size[]) {
          const what = `${activation}, bias ${bias}, ${size}, ${backend}`;
          it(`matches the modules run one by one: ${what}`, () => {
            setBackend(backend);
            const fusedRun = run(true, activation, bias, size);
            expect(fusedRun).toEqual(run(false, activation, bias, size));
          });
        }
      }
    }
  }

  for (const activation of ACTIVATIONS) {
    for (const size of Object.keys(SIZES) as Size[]) {
      it(`passes finite differences in float64: ${activation}, ${size}`, () => {
        checkFused(activation, size);
      });
    }
  }

  /** Finite differences through the fused op, in float64, at one size. */
  function checkFused(activation: Activation, size: Size) {
    const [fc1, act] = layers(activation, true, 'float64', size);
    const seq = new nn.Sequential(fc1, act);
    manualSeed(9);
    const x = randn([SIZES[size].batch, SIZES[size].inputs], { dtype: 'float64' });
    // ReLU's kink: keep the pre-activations away from 0 so differences are well defined.
    const result = gradcheck(
      (input: Tensor, w: Tensor, b: Tensor) => {
        fc1.weight = w;
        fc1.bias = b;
        return seq.forward(input);
      },
      [x, fc1.weight, fc1.bias!],
    );
    expect(result.maxError, result.worst).toBeLessThanOrEqual(1);
    expect(seq.forward(x).gradFn?.name).toBe(`linear+${activation.toLowerCase()}`);
  }

  it('leaves N-d inputs and wrong shapes to the modules, with their own errors', () => {
    setBackend(backends[0]);
    const [fc1, act] = layers('ReLU', true);
    const seq = new nn.Sequential(fc1, act);
    const x3 = randn([2, 4, 5]);
    expect(Array.from(seq.forward(x3).data)).toEqual(Array.from(act.forward(fc1.forward(x3)).data));
    expect(() => seq.forward(tensor([[1, 2]]))).toThrow(
      'Linear(5, 3): expected input of shape [*, 5], received [1, 2]',
    );
  });

  it('does not fuse a subclass of Linear, whose forward may differ', () => {
    class Doubled extends nn.Linear {
      override forward(x: Tensor): Tensor {
        return super.forward(x).mul(2);
      }
    }
    manualSeed(1);
    const layer = new Doubled(2, 2);
    const seq = new nn.Sequential(layer, new nn.ReLU());
    const x = tensor([[1, -1]]);
    expect(Array.from(seq.forward(x).data)).toEqual(Array.from(layer.forward(x).relu().data));
  });
});
