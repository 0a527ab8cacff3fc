/**
 * nodegrad against PyTorch: the values in test/fixtures/torch-core.json were computed by
 * PyTorch (tools/make-torch-fixtures.py); each case is replayed here on both backends.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { getBackend, nativeBackend, setBackend } from '../lib/backend';
import type { BackendName } from '../lib/backend';
import * as F from '../lib/nn/functional';
import { Linear, ReLU, Sequential } from '../lib/nn';
import { Adam, AdamW, SGD } from '../lib/optim';
import { Tensor, tensor } from '../lib/tensor';

interface Stored {
  shape: number[];
  data: number[];
}

interface OpCase {
  name: string;
  inputs: Stored[];
  output: Stored;
  upstream: Stored;
  grads: Stored[];
  targets?: number[];
  target?: Stored;
}

interface OptimizerCase {
  name: string;
  options: { kind: 'SGD' | 'Adam' | 'AdamW'; [key: string]: unknown };
  start: number[];
  grads: number[][];
  steps: number[][];
}

interface Fixture {
  torch: string;
  ops: OpCase[];
  mlp: {
    state: Record<string, Stored>;
    input: Stored;
    targets: number[];
    loss: number;
    grads: Record<string, Stored>;
  };
  optimizers: OptimizerCase[];
}

const fixture: Fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, 'fixtures', 'torch-core.json'), 'utf8'),
);

const load = (s: Stored, requiresGrad = false) => tensor(s.data, { shape: s.shape, requiresGrad });

/** |actual - expected| <= 2e-6 + 2e-5 |expected|, element by element, with the worst named. */
function expectClose(actual: ArrayLike<number>, expected: readonly number[], what: string) {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const tolerance = 2e-6 + 2e-5 * Math.abs(expected[i]);
    if (!(Math.abs(actual[i] - expected[i]) <= tolerance)) {
      expect.fail(`${what}[${i}]: expected ${expected[i]}, received ${actual[i]}`);
    }
  }
}

/** nodegrad's version of each PyTorch case, by name. */
const ops: Record<string, (c: OpCase, ...xs: Tensor[]) => Tensor> = {
  'add broadcast': (_c, a, b) => a.add(b),
  'sub broadcast': (_c, a, b) => a.sub(b),
  'mul broadcast': (_c, a, b) => a.mul(b),
  'div broadcast': (_c, a, b) => a.div(b),
  exp: (_c, a) => a.exp(),
  log: (_c, a) => a.log(),
  'pow 3': (_c, a) => a.pow(3),
  'sum axis 1': (_c, a) => a.sum(1),
  'mean all': (_c, a) => a.mean(),
  'max axis 0': (_c, a) => a.max(0),
  relu: (_c, a) => a.relu(),
  sigmoid: (_c, a) => a.sigmoid(),
  tanh: (_c, a) => a.tanh(),
  softmax: (_c, a) => a.softmax(-1),
  logSoftmax: (_c, a) => a.logSoftmax(-1),
  matmul: (_c, a, b) => a.matmul(b),
  transpose: (_c, a) => a.transpose(0, 2),
  linear: (_c, x, w, b) => F.linear(x, w, b),
  'mseLoss mean': (_c, a, b) => F.mseLoss(a, b),
  'mseLoss sum': (_c, a, b) => F.mseLoss(a, b, 'sum'),
  'crossEntropy mean': (c, a) => F.crossEntropy(a, c.targets!),
  'crossEntropy none': (c, a) => F.crossEntropy(a, c.targets!, 'none'),
  'binaryCrossEntropy mean': (c, p) => F.binaryCrossEntropy(p, load(c.target!)),
  'binaryCrossEntropyWithLogits sum': (c, x) =>
    F.binaryCrossEntropyWithLogits(x, load(c.target!), 'sum'),
};

function makeOptimizer(o: OptimizerCase['options'], params: Tensor[]) {
  const { kind, ...options } = o;
  if (kind === 'SGD') return new SGD(params, options);
  return kind === 'Adam' ? new Adam(params, options) : new AdamW(params, options);
}

const initial = getBackend().name;
afterAll(() => setBackend(initial));
const backends: BackendName[] = nativeBackend() === null ? ['reference'] : ['reference', 'native'];

it('has a nodegrad version of every PyTorch case in the fixture', () => {
  expect(fixture.ops.map((c) => c.name).filter((name) => !(name in ops))).toEqual([]);
  expect(fixture.ops.length).toBeGreaterThanOrEqual(24);
});

describe.each(backends)(`the %s backend against PyTorch ${fixture.torch}`, (backend) => {
  it.each(fixture.ops.map((c) => [c.name, c] as const))('%s: output and gradients', (_, c) => {
    setBackend(backend);
    const inputs = c.inputs.map((s) => load(s, true));
    const out = ops[c.name](c, ...inputs);
    expect(out.shape).toEqual(c.output.shape);
    expectClose(out.data, c.output.data, 'output');

    out.backward(load(c.upstream));
    inputs.forEach((x, i) => expectClose(x.grad!.data, c.grads[i].data, `grad of input ${i}`));
  });

  it('a 12-8-6-4 ReLU network with cross-entropy: the loss and every parameter gradient', () => {
    setBackend(backend);
    const model = new Sequential(
      new Linear(12, 8),
      new ReLU(),
      new Linear(8, 6),
      new ReLU(),
      new Linear(6, 4),
    );
    const state = Object.fromEntries(
      Object.entries(fixture.mlp.state).map(([k, s]) => [k, load(s)]),
    );
    model.loadStateDict(state);
    const loss = F.crossEntropy(model.forward(load(fixture.mlp.input)), fixture.mlp.targets);
    expectClose([loss.item()], [fixture.mlp.loss], 'loss');

    loss.backward();
    for (const [name, p] of model.namedParameters()) {
      expectClose(p.grad!.data, fixture.mlp.grads[name].data, `grad of ${name}`);
    }
  });

  it.each(fixture.optimizers.map((c) => [c.name, c] as const))(
    '%s: the parameter after each of 5 steps',
    (_, c) => {
      setBackend(backend);
      const p = tensor(c.start, { requiresGrad: true });
      const optimizer = makeOptimizer(c.options, [p]);
      c.grads.forEach((g, step) => {
        p.grad = tensor(g);
        optimizer.step();
        expectClose(p.data, c.steps[step], `step ${step + 1}`);
      });
    },
  );
});
