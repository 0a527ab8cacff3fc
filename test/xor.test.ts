import { afterEach, describe, expect, it } from 'vitest';

import { getBackend, nativeBackend, setBackend } from '../lib/backend';
import type { BackendName } from '../lib/backend';
import { tensor } from '../lib/tensor';
import { XOR_INPUTS, XOR_TARGETS, XorNet, halfSquaredError, trainXor } from '../examples/xor';

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

// A fixed set of weights: W¹ (hidden × input), b¹, w² (one output × hidden), b².
const W1 = [
  [0.15, -0.2],
  [0.25, 0.3],
];
const B1 = [0.35, -0.1];
const W2 = [0.4, -0.45];
const B2 = 0.6;

interface Gradients {
  W1: number[][];
  b1: number[];
  w2: number[];
  b2: number;
}

/**
 * The gradients of J = ½ Σₙ (ŷₙ − yₙ)² from the chain-rule formulas, in double precision:
 * δ² = (ŷ − y)·ŷ(1 − ŷ), ∂J/∂w²ᵢ = δ²·a¹ᵢ, ∂J/∂b² = δ²,
 * δ¹ᵢ = w²ᵢ·δ²·a¹ᵢ(1 − a¹ᵢ), ∂J/∂W¹ᵢⱼ = δ¹ᵢ·xⱼ, ∂J/∂b¹ᵢ = δ¹ᵢ, each summed over the patterns.
 */
function handGradients(inputs: number[][], targets: number[]): Gradients {
  const g: Gradients = {
    W1: [
      [0, 0],
      [0, 0],
    ],
    b1: [0, 0],
    w2: [0, 0],
    b2: 0,
  };
  inputs.forEach((x, n) => {
    const y = targets[n];

    // Forward pass.
    const a1 = [0, 1].map((i) => sigmoid(W1[i][0] * x[0] + W1[i][1] * x[1] + B1[i]));
    const yHat = sigmoid(W2[0] * a1[0] + W2[1] * a1[1] + B2);

    // Output error term and the output layer's gradients.
    const delta2 = (yHat - y) * yHat * (1 - yHat);
    g.b2 += delta2;
    for (let i = 0; i < 2; i++) g.w2[i] += delta2 * a1[i];

    // Hidden error terms and the hidden layer's gradients.
    for (let i = 0; i < 2; i++) {
      const delta1 = W2[i] * delta2 * a1[i] * (1 - a1[i]);
      g.b1[i] += delta1;
      for (let j = 0; j < 2; j++) g.W1[i][j] += delta1 * x[j];
    }
  });
  return g;
}

function autogradGradients(inputs: number[][], targets: number[]): Gradients {
  const model = new XorNet();
  model.loadStateDict({
    'hidden.weight': tensor(W1),
    'hidden.bias': tensor(B1),
    'output.weight': tensor([W2]),
    'output.bias': tensor([B2]),
  });
  const loss = halfSquaredError(model.forward(tensor(inputs)), tensor(targets.map((t) => [t])));
  loss.backward();

  const grad = (p: { grad: { toArray(): unknown } | null }) => p.grad!.toArray();
  return {
    W1: grad(model.hidden.weight) as number[][],
    b1: grad(model.hidden.bias!) as number[],
    w2: (grad(model.output.weight) as number[][])[0],
    b2: (grad(model.output.bias!) as number[])[0],
  };
}

/** Equal to float32 precision: a few units in the last place of the larger magnitude. */
function expectFloat32Close(actual: number, expected: number): void {
  const tolerance = 4 * 2 ** -23 * Math.max(Math.abs(expected), 0.25);
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(tolerance);
}

function expectSameGradients(actual: Gradients, expected: Gradients): void {
  expect(expected.W1.flat().every((v) => v !== 0)).toBe(true);
  actual.W1.flat().forEach((v, i) => expectFloat32Close(v, expected.W1.flat()[i]));
  actual.b1.forEach((v, i) => expectFloat32Close(v, expected.b1[i]));
  actual.w2.forEach((v, i) => expectFloat32Close(v, expected.w2[i]));
  expectFloat32Close(actual.b2, expected.b2);
}

const backends: BackendName[] = nativeBackend() === null ? ['reference'] : ['reference', 'native'];
const initialBackend = getBackend().name;

afterEach(() => setBackend(initialBackend));

describe.each(backends)('the 2-2-1 XOR network on the %s backend', (backend) => {
  it('gives the chain-rule gradients for one pattern', () => {
    setBackend(backend);
    const inputs = [[1, 1]];
    const targets = [0];
    expectSameGradients(autogradGradients(inputs, targets), handGradients(inputs, targets));
  });

  it('gives the chain-rule gradients summed over the four XOR patterns', () => {
    setBackend(backend);
    expectSameGradients(
      autogradGradients(XOR_INPUTS, XOR_TARGETS),
      handGradients(XOR_INPUTS, XOR_TARGETS),
    );
  });

  it('learns XOR by plain gradient descent from a fixed seed', () => {
    setBackend(backend);
    const { losses, predictions } = trainXor({ seed: 0 });
    expect(losses[losses.length - 1]).toBeLessThan(0.05 * losses[0]);
    predictions.forEach((p, i) => {
      if (XOR_TARGETS[i] === 1) expect(p).toBeGreaterThan(0.5);
      else expect(p).toBeLessThan(0.5);
    });
  });
});

it('the hand-written formulas themselves agree with a finite difference', () => {
  // Guards the reference the autograd is checked against: perturb b² and compare.
  const loss = (b2: number) =>
    XOR_INPUTS.reduce((sum, x, n) => {
      const a1 = [0, 1].map((i) => sigmoid(W1[i][0] * x[0] + W1[i][1] * x[1] + B1[i]));
      const yHat = sigmoid(W2[0] * a1[0] + W2[1] * a1[1] + b2);
      return sum + 0.5 * (yHat - XOR_TARGETS[n]) ** 2;
    }, 0);
  const h = 1e-6;
  const numeric = (loss(B2 + h) - loss(B2 - h)) / (2 * h);
  expect(numeric).toBeCloseTo(handGradients(XOR_INPUTS, XOR_TARGETS).b2, 8);
});
