/**
 * BatchNorm1d and BatchNorm2d against PyTorch: test/fixtures/torch-norm.json holds what PyTorch
 * computed (tools/make-torch-fixtures-norm.py) for eight configurations (2-D, 3-D and 4-D input,
 * momentum 0.1, 0.3 and null, with and without the affine parameters and the running
 * statistics). Each case loads PyTorch's state dict by PyTorch's names, replays three
 * training-mode steps and one evaluation-mode step on the reference backend and on the native
 * one at every SIMD level, and compares every output, every gradient of the input and the
 * parameters, and the buffers after each training step. The state dicts also go both ways
 * through safetensors files: PyTorch's (num_batches_tracked as I64) into nodegrad, and
 * nodegrad's into PyTorch.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { getBackend, nativeBackend, setBackend } from '../lib/backend';
import { load as loadFile } from '../lib/io';
import { BatchNorm1d, BatchNorm2d } from '../lib/nn';
import { Tensor, tensor } from '../lib/tensor';

interface Stored {
  shape: number[];
  data: number[];
}

interface Step {
  input: Stored;
  output: Stored;
  upstream: Stored;
  inputGrad: Stored;
  paramGrads: Record<string, Stored>;
  buffers?: Record<string, Stored | number>;
}

interface Case {
  name: string;
  config: {
    kind: 'BatchNorm1d' | 'BatchNorm2d';
    numFeatures: number;
    eps: number;
    momentum: number | null;
    affine: boolean;
    trackRunningStats: boolean;
  };
  state: Record<string, Stored | number>;
  train: Step[];
  eval: Step;
  fromNodegrad: Stored;
}

const fixture: { torch: string; batchNorm: Case[] } = JSON.parse(
  fs.readFileSync(path.join(__dirname, 'fixtures', 'torch-norm.json'), 'utf8'),
);

/** A stored tensor, or num_batches_tracked's plain count as a float64 scalar. */
const load = (s: Stored | number, requiresGrad = false) =>
  typeof s === 'number'
    ? tensor(s, { dtype: 'float64' })
    : tensor(s.data, { shape: s.shape, requiresGrad });

/**
 * |actual - expected| <= 1e-5 (|expected| + max |expected|) over each tensor: 1e-5 relative to
 * the element or to the tensor's largest element, whichever is larger. The fixture is exact
 * (PyTorch in float64 from float32 inputs); nodegrad computes in float32, and the input
 * gradient of a training-mode step sums to 0 over each channel, so its small elements keep the
 * rounding error of its large terms, not of their own size.
 */
function expectClose(actual: ArrayLike<number>, expected: readonly number[], what: string) {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const largest = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  for (let i = 0; i < expected.length; i++) {
    const tolerance = 1e-5 * (Math.abs(expected[i]) + largest);
    if (!(Math.abs(actual[i] - expected[i]) <= tolerance)) {
      expect.fail(`${what}[${i}]: expected ${expected[i]}, received ${actual[i]}`);
    }
  }
}

function build(c: Case): BatchNorm1d | BatchNorm2d {
  const { kind, numFeatures, ...options } = c.config;
  return kind === 'BatchNorm1d'
    ? new BatchNorm1d(numFeatures, options)
    : new BatchNorm2d(numFeatures, options);
}

function loadState(module: BatchNorm1d | BatchNorm2d, state: Record<string, Stored | number>) {
  module.loadStateDict(Object.fromEntries(Object.entries(state).map(([k, s]) => [k, load(s)])));
}

/** One step: forward, compare, backward from the upstream gradient, compare the gradients. */
function replay(module: BatchNorm1d | BatchNorm2d, step: Step, what: string): void {
  module.zeroGrad();
  const x = load(step.input, true);
  const out = module.forward(x);
  expect(out.shape).toEqual(step.output.shape);
  expectClose(out.data, step.output.data, `${what} output`);
  out.backward(load(step.upstream));
  expectClose(x.grad!.data, step.inputGrad.data, `${what} input gradient`);
  for (const [name, p] of module.namedParameters()) {
    expectClose(p.grad!.data, step.paramGrads[name].data, `${what} gradient of ${name}`);
  }
}

function expectBuffers(module: BatchNorm1d | BatchNorm2d, expected: Step['buffers'], what: string) {
  const buffers = Object.fromEntries(module.namedBuffers());
  expect(Object.keys(buffers)).toEqual(Object.keys(expected!));
  for (const [name, value] of Object.entries(expected!)) {
    if (typeof value === 'number') expect(buffers[name].item(), `${what} ${name}`).toBe(value);
    else expectClose(buffers[name].data, value.data, `${what} ${name}`);
  }
}

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
const initialLevel = native?.simd();
afterAll(() => {
  setBackend(initialBackend);
  if (initialLevel !== undefined) native!.setSimd(initialLevel);
});

const cases = fixture.batchNorm.map((c, i) => [c.name, c, i] as const);

it('holds every configuration, momentum null and affine false among them', () => {
  expect(cases.length).toBe(8);
  expect(fixture.batchNorm.some((c) => c.config.momentum === null)).toBe(true);
  expect(fixture.batchNorm.some((c) => !c.config.affine)).toBe(true);
  expect(fixture.batchNorm.some((c) => !c.config.trackRunningStats)).toBe(true);
});

it.each(cases)('%s: the state dict has PyTorch names and shapes, in its order', (_, c) => {
  const ours = Object.entries(build(c).stateDict()).map(([k, t]) => [k, t.shape]);
  const theirs = Object.entries(c.state).map(([k, s]) => [k, typeof s === 'number' ? [] : s.shape]);
  expect(ours).toEqual(theirs);
});

describe.each(configurations)(`%s against PyTorch ${fixture.torch}`, (_, select) => {
  it.each(cases)('%s: training steps, running statistics and evaluation', (__, c) => {
    select();
    const module = build(c);
    loadState(module, c.state);
    c.train.forEach((step, i) => {
      replay(module, step, `training step ${i}`);
      expectBuffers(module, step.buffers, `after training step ${i}`);
    });
    module.eval();
    replay(module, c.eval, 'evaluation');
  });
});

describe('state dicts through safetensors', () => {
  /** Case i's entries of a file of many cases' state dicts, without the "i." prefix. */
  const caseState = (saved: Record<string, Tensor>, i: number) =>
    Object.fromEntries(
      Object.entries(saved)
        .filter(([k]) => k.startsWith(`${i}.`))
        .map(([k, t]) => [k.slice(`${i}.`.length), t]),
    );

  it.each(cases)('%s: PyTorch’s file loads into nodegrad and evaluates alike', (_, c, i) => {
    // Written as PyTorch's tensors are: float32 values, num_batches_tracked an I64 scalar.
    const saved = loadFile(path.join(__dirname, 'fixtures', 'torch-norm-state.safetensors'));
    const module = build(c);
    module.loadStateDict(caseState(saved, i));
    const last = c.train[c.train.length - 1].buffers!;
    expectBuffers(module, last, 'loaded');
    module.eval();
    expectClose(module.forward(load(c.eval.input)).data, c.eval.output.data, 'evaluation');
  });

  it.each(cases)('%s: nodegrad’s file loads into PyTorch and evaluates alike', (_, c, i) => {
    // tools/write-norm-state.js saved nodegrad's state after the training steps; the fixture
    // script loaded it strictly into PyTorch's module and evaluated the case's input.
    const saved = loadFile(path.join(__dirname, 'fixtures', 'nodegrad-norm-state.safetensors'));
    const module = build(c);
    module.loadStateDict(caseState(saved, i));
    module.eval();
    const out = module.forward(load(c.eval.input));
    expectClose(out.data, c.fromNodegrad.data, 'PyTorch with nodegrad’s state');
  });
});
