/**
 * nodegrad's convolution and pooling layers against PyTorch: the values in
 * test/fixtures/torch-cnn.json were computed by PyTorch (tools/make-torch-fixtures-cnn.py);
 * each case is replayed here on the reference backend and on the native one at every SIMD
 * level this CPU has: the output, and the gradients of the input and of every parameter for
 * PyTorch's random upstream gradient.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { getBackend, nativeBackend, setBackend } from '../lib/backend';
import { load as loadFile } from '../lib/io';
import {
  AdaptiveAvgPool2d,
  AvgPool2d,
  Conv1d,
  Conv2d,
  Flatten,
  Linear,
  MaxPool2d,
  ReLU,
  Sequential,
} from '../lib/nn';
import type { Module } from '../lib/nn';
import { tensor } from '../lib/tensor';

interface Stored {
  shape: number[];
  data: number[];
}

interface LayerCase {
  kind: string;
  args: unknown[];
  options: Record<string, unknown>;
  state: Record<string, Stored>;
  input: Stored;
  output: Stored;
  upstream: Stored;
  inputGrad: Stored;
  paramGrads: Record<string, Stored>;
  /** PyTorch's output with nodegrad's initial weights (nodegrad-cnn-state.safetensors). */
  fromNodegrad?: Stored;
}

const fixture: { torch: string; layers: LayerCase[] } = JSON.parse(
  fs.readFileSync(path.join(__dirname, 'fixtures', 'torch-cnn.json'), 'utf8'),
);

const load = (s: Stored, requiresGrad = false) => tensor(s.data, { shape: s.shape, requiresGrad });

/**
 * |actual - expected| <= 1e-5 (1 + |expected|) scale elementwise, with the worst named. The
 * atol covers values of order 1 that cancel. scale is 1 except for the gradients of a
 * convolution's weight and bias, each a float32 sum of K = batch * outH * outW products
 * (432 in the largest case): rounding error grows as √K (measured: 1.6e-5 on -0.436 at
 * K = 432 in OpenBLAS's sgemm against PyTorch), so those get scale √(K / 100) when above 1.
 */
function expectClose(
  actual: ArrayLike<number>,
  expected: readonly number[],
  what: string,
  scale = 1,
) {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const tolerance = 1e-5 * (1 + Math.abs(expected[i])) * scale;
    if (!(Math.abs(actual[i] - expected[i]) <= tolerance)) {
      expect.fail(`${what}[${i}]: expected ${expected[i]}, received ${actual[i]}`);
    }
  }
}

/** The tolerance scale of a parameter's gradient: √(K / 100) for a sum of K terms, or 1. */
function sumScale(c: LayerCase, name: string): number {
  const out = c.output.shape;
  if (!c.kind.startsWith('Conv') || !/^(weight|bias)$/.test(name)) return 1;
  const channelAxis = out.length - (c.kind === 'Conv2d' ? 3 : 2);
  const terms = out.reduce((a, b) => a * b, 1) / out[channelAxis];
  return Math.max(1, Math.sqrt(terms / 100));
}

/** The nodegrad layer of a case, as tools/write-cnn-state.js builds it. */
function makeLayer(c: LayerCase): Module {
  const a = c.args as never[];
  const o = c.options as never;
  switch (c.kind) {
    case 'Conv1d':
      return new Conv1d(a[0], a[1], a[2], o);
    case 'Conv2d':
      return new Conv2d(a[0], a[1], a[2], o);
    case 'MaxPool2d':
      return new MaxPool2d(a[0], o);
    case 'AvgPool2d':
      return new AvgPool2d(a[0], o);
    case 'AdaptiveAvgPool2d':
      return new AdaptiveAvgPool2d(a[0]);
    case 'Flatten':
      return new Flatten(a[0], a[1]);
  }
  return new Sequential(
    new Conv2d(1, 4, 3, { padding: 1 }),
    new ReLU(),
    new MaxPool2d(2),
    new Conv2d(4, 6, 3, { groups: 2 }),
    new ReLU(),
    new AvgPool2d(2, { stride: 1 }),
    new AdaptiveAvgPool2d(1),
    new Flatten(),
    new Linear(6, 3),
  );
}

const caseName = (c: LayerCase) =>
  `${c.kind}(${c.args.map((v) => JSON.stringify(v)).join(', ')}) ${JSON.stringify(c.options)} ` +
  `on [${c.input.shape}]`;

/** The reference backend, then the native one at each SIMD level this CPU has. */
const native = nativeBackend();
const configurations: [string, () => void][] = [['reference', () => setBackend('reference')]];
for (const level of native?.simdLevels() ?? []) {
  configurations.push([
    `native ${level}`,
    () => {
      setBackend('native');
      native!.setSimd(level);
    },
  ]);
}
const initialBackend = getBackend().name;
const initialSimd = native?.simd();
afterAll(() => {
  setBackend(initialBackend);
  if (initialSimd) native!.setSimd(initialSimd);
});

it('the fixture covers every layer, groups, dilation, stride, padding and ceil mode', () => {
  const kinds = new Set(fixture.layers.map((c) => c.kind));
  for (const kind of ['Conv1d', 'Conv2d', 'MaxPool2d', 'AvgPool2d', 'AdaptiveAvgPool2d']) {
    expect(kinds.has(kind), kind).toBe(true);
  }
  const options = fixture.layers.map((c) => c.options);
  const keys = ['groups', 'dilation', 'stride', 'padding', 'countIncludePad', 'bias', 'ceilMode'];
  for (const key of [...keys, 'divisorOverride']) {
    expect(
      options.some((o) => key in o),
      key,
    ).toBe(true);
  }
});

describe.each(configurations)(`on %s, against PyTorch ${fixture.torch}`, (_, select) => {
  it.each(fixture.layers.map((c) => [caseName(c), c] as const))(
    '%s: output and the gradients of the input and parameters',
    (_name, c) => {
      select();
      const layer = makeLayer(c);
      layer.loadStateDict(
        Object.fromEntries(Object.entries(c.state).map(([k, s]) => [k, load(s)])),
      );
      const x = load(c.input, true);
      const y = layer.forward(x);
      expect(y.shape).toEqual(c.output.shape);
      expectClose(y.data, c.output.data, 'output');

      y.mul(load(c.upstream)).sum().backward();
      expectClose(x.grad!.data, c.inputGrad.data, 'input gradient');
      const names = [...layer.namedParameters()].map(([name]) => name);
      expect(names).toEqual(Object.keys(c.paramGrads));
      for (const [name, p] of layer.namedParameters()) {
        expectClose(
          p.grad!.data,
          c.paramGrads[name].data,
          `gradient of ${name}`,
          sumScale(c, name),
        );
      }
    },
  );
});

const withParameters = fixture.layers
  .map((c, i) => [caseName(c), c, i] as const)
  .filter(([, c]) => Object.keys(c.state).length > 0);

describe('state dicts have PyTorch names and shapes', () => {
  it.each(withParameters)('%s', (_name, c) => {
    const layer = makeLayer(c);
    const ours = Object.entries(layer.stateDict()).map(([k, t]) => [k, t.shape]);
    const theirs = Object.entries(c.state).map(([k, s]) => [k, s.shape]);
    expect(ours).toEqual(theirs);
  });
});

describe('state dicts saved by nodegrad load into PyTorch', () => {
  // tools/write-cnn-state.js saved each case's freshly initialised nodegrad layer; the fixture
  // script loaded every one strictly into the PyTorch module of its case and ran the case's
  // input through it.
  const saved = loadFile(path.join(__dirname, 'fixtures', 'nodegrad-cnn-state.safetensors'));

  it.each(withParameters)(
    '%s: PyTorch computes with nodegrad’s weights what nodegrad does',
    (_name, c, i) => {
      const prefix = `${i}.`;
      const state = Object.fromEntries(
        Object.entries(saved)
          .filter(([k]) => k.startsWith(prefix))
          .map(([k, t]) => [k.slice(prefix.length), t]),
      );
      expect(Object.keys(state).length).toBeGreaterThan(0);
      const layer = makeLayer(c);
      layer.loadStateDict(state);
      const y = layer.forward(load(c.input));
      expect(c.fromNodegrad, 'the fixture was written after write-cnn-state.js').toBeDefined();
      expect(y.shape).toEqual(c.fromNodegrad!.shape);
      expectClose(y.data, c.fromNodegrad!.data, 'output');
    },
  );
});
