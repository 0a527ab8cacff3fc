/**
 * nodegrad's recurrent layers and training utilities against PyTorch: the values in
 * test/fixtures/torch-seq.json were computed by PyTorch (tools/make-torch-fixtures-seq.py);
 * each case is replayed here on the reference backend and on the native one at every SIMD
 * level this CPU has.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { getBackend, nativeBackend, setBackend } from '../lib/backend';
import { clipGradNorm_, clipGradValue_, Embedding, GRU, init, LSTM, RNN } from '../lib/nn';
import type { Module } from '../lib/nn';
import {
  Adagrad,
  CosineAnnealingLR,
  LinearLR,
  ReduceLROnPlateau,
  RMSprop,
  SGD,
  StepLR,
} from '../lib/optim';
import { manualSeed, Tensor, tensor, zeros } from '../lib/tensor';

interface Stored {
  shape: number[];
  data: number[];
}

interface LayerCase {
  kind: 'Embedding' | 'RNN' | 'LSTM' | 'GRU';
  options: Record<string, unknown>;
  state: Record<string, Stored>;
  input?: Stored;
  indices?: Stored;
  initial?: Stored[];
  outputs: Stored[];
  upstream: Stored[];
  inputGrad?: Stored;
  initialGrads?: Stored[];
  paramGrads: Record<string, Stored>;
}

interface OptimizerCase {
  name: string;
  options: { kind: 'RMSprop' | 'Adagrad'; [key: string]: unknown };
  start: number[];
  grads: number[][];
  steps: number[][];
}

interface SchedulerCase {
  name: string;
  kind: 'StepLR' | 'CosineAnnealingLR' | 'LinearLR' | 'ReduceLROnPlateau';
  options: Record<string, unknown>;
  lrs: number[][];
  metrics?: number[];
}

interface Fixture {
  torch: string;
  layers: LayerCase[];
  optimizers: OptimizerCase[];
  schedulers: SchedulerCase[];
  clip: {
    grads: Stored[];
    cases: Array<{
      kind: 'norm' | 'value';
      maxNorm?: number;
      normType?: number | 'inf';
      clipValue?: number;
      total?: number;
      clipped: number[][];
    }>;
  };
  init: {
    schemes: Array<{
      name: string;
      options: Record<string, number | string>;
      shape: number[];
      mean: number;
      std: number;
      min: number;
      max: number;
    }>;
    gains: Record<string, number>;
    fans: Record<string, [number, number]>;
  };
}

const fixture: Fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, 'fixtures', 'torch-seq.json'), 'utf8'),
);

const load = (s: Stored, requiresGrad = false) => tensor(s.data, { shape: s.shape, requiresGrad });

/**
 * |actual - expected| <= 1e-5 (atol + |expected|) elementwise, with the worst named. The atol
 * (1e-5 relative to values of order 1) covers float32 sums of a few dozen terms that cancel.
 */
function expectClose(actual: ArrayLike<number>, expected: readonly number[], what: string) {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const tolerance = 1e-5 * (1 + Math.abs(expected[i]));
    if (!(Math.abs(actual[i] - expected[i]) <= tolerance)) {
      expect.fail(`${what}[${i}]: expected ${expected[i]}, received ${actual[i]}`);
    }
  }
}

/** Builds the nodegrad layer of a case (its weights are then loaded from PyTorch's). */
function makeLayer(c: LayerCase): Module & {
  forwardWithState?: (x: Tensor, s?: never) => unknown;
} {
  const o = c.options as Record<string, number & boolean & 'tanh'>;
  if (c.kind === 'Embedding') {
    return new Embedding(o.numEmbeddings, o.embeddingDim, { paddingIdx: o.paddingIdx ?? null });
  }
  const options = {
    numLayers: o.numLayers,
    bias: o.bias,
    batchFirst: o.batchFirst,
    nonlinearity: o.nonlinearity,
  };
  if (c.kind === 'RNN') return new RNN(o.inputSize, o.hiddenSize, options);
  if (c.kind === 'LSTM') return new LSTM(o.inputSize, o.hiddenSize, options);
  return new GRU(o.inputSize, o.hiddenSize, options);
}

/** Runs a case's layer; returns its outputs in PyTorch's order and the leaves to check. */
function runLayer(c: LayerCase, layer: Module) {
  if (c.kind === 'Embedding') {
    const indices = Int32Array.from(c.indices!.data);
    return { outputs: [(layer as Embedding).forward(indices, c.indices!.shape)], leaves: [] };
  }
  const x = load(c.input!, true);
  const initial = (c.initial ?? []).map((s) => load(s, true));
  const leaves = [x, ...initial];
  if (c.kind === 'LSTM') {
    const state = initial.length === 2 ? (initial as [Tensor, Tensor]) : undefined;
    const [out, [h, cN]] = (layer as LSTM).forwardWithState(x, state);
    return { outputs: [out, h, cN], leaves };
  }
  const [out, h] = (layer as RNN | GRU).forwardWithState(x, initial[0]);
  return { outputs: [out, h], leaves };
}

const caseName = (c: LayerCase) => `${c.kind} ${JSON.stringify(c.options)}`;

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

describe.each(configurations)(`on %s, against PyTorch ${fixture.torch}`, (_, select) => {
  it.each(fixture.layers.map((c) => [caseName(c), c] as const))(
    '%s: outputs and the gradients of the input, initial state and parameters',
    (_name, c) => {
      select();
      const layer = makeLayer(c);
      layer.loadStateDict(
        Object.fromEntries(Object.entries(c.state).map(([k, s]) => [k, load(s)])),
      );
      const { outputs, leaves } = runLayer(c, layer);
      outputs.forEach((out, i) => {
        expect(out.shape, `output ${i}`).toEqual(c.outputs[i].shape);
        expectClose(out.data, c.outputs[i].data, `output ${i}`);
      });

      // One backward of sum(output_i * upstream_i) gives every gradient at once.
      const objective = outputs
        .map((out, i) => out.mul(load(c.upstream[i])).sum())
        .reduce((a, b) => a.add(b));
      objective.backward();
      if (c.inputGrad) expectClose(leaves[0].grad!.data, c.inputGrad.data, 'input gradient');
      (c.initialGrads ?? []).forEach((g, i) =>
        expectClose(leaves[i + 1].grad!.data, g.data, `initial state ${i} gradient`),
      );
      for (const [name, p] of layer.namedParameters()) {
        expectClose(p.grad!.data, c.paramGrads[name].data, `gradient of ${name}`);
      }
    },
  );

  it.each(fixture.optimizers.map((c) => [c.name, c] as const))(
    '%s: the parameter after each of 5 steps',
    (_name, c) => {
      select();
      const { kind, ...options } = c.options;
      const p = tensor(c.start, { shape: [3, 4], requiresGrad: true });
      const optimizer = kind === 'RMSprop' ? new RMSprop([p], options) : new Adagrad([p], options);
      c.grads.forEach((g, step) => {
        p.grad = tensor(g, { shape: [3, 4] });
        optimizer.step();
        expectClose(p.data, c.steps[step], `step ${step + 1}`);
      });
    },
  );
});

describe('state dicts have PyTorch names and shapes', () => {
  it.each(fixture.layers.map((c) => [caseName(c), c] as const))('%s', (_name, c) => {
    const layer = makeLayer(c);
    const ours = Object.entries(layer.stateDict()).map(([k, t]) => [k, t.shape]);
    const theirs = Object.entries(c.state).map(([k, s]) => [k, s.shape]);
    expect(ours).toEqual(theirs);
  });
});

function makeScheduler(c: SchedulerCase, optimizer: SGD) {
  const o = c.options as never;
  switch (c.kind) {
    case 'StepLR':
      return new StepLR(optimizer, o);
    case 'CosineAnnealingLR':
      return new CosineAnnealingLR(optimizer, o);
    case 'LinearLR':
      return new LinearLR(optimizer, o);
    case 'ReduceLROnPlateau':
      return new ReduceLROnPlateau(optimizer, o);
  }
}

describe('learning-rate schedules against PyTorch', () => {
  it.each(fixture.schedulers.map((c) => [c.name, c] as const))(
    '%s: the learning rate of two groups after every step',
    (_name, c) => {
      const a = zeros([1], { requiresGrad: true });
      const b = zeros([1], { requiresGrad: true });
      const optimizer = new SGD([{ params: [a] }, { params: [b], lr: 0.01 }], { lr: 0.1 });
      const scheduler = makeScheduler(c, optimizer);
      const seen = [optimizer.paramGroups.map((g) => g.lr)];
      for (let i = 0; i < c.lrs.length - 1; i++) {
        if (scheduler instanceof ReduceLROnPlateau) scheduler.step(c.metrics![i]);
        else scheduler.step();
        seen.push(optimizer.paramGroups.map((g) => g.lr));
      }
      seen.forEach((lrs, i) => expectClose(lrs, c.lrs[i], `learning rates after step ${i}`));
    },
  );

  it.each(fixture.schedulers.map((c) => [c.name, c] as const))(
    '%s: a schedule restored from stateDict() continues the same way',
    (_name, c) => {
      const make = () => {
        const p = zeros([1], { requiresGrad: true });
        const optimizer = new SGD([{ params: [p] }, { params: [zeros([1])], lr: 0.01 }], {
          lr: 0.1,
        });
        return { optimizer, scheduler: makeScheduler(c, optimizer) };
      };
      const step = (s: ReturnType<typeof makeScheduler>, i: number) =>
        s instanceof ReduceLROnPlateau ? s.step(c.metrics![i]) : s.step();
      const first = make();
      const half = Math.floor((c.lrs.length - 1) / 2);
      for (let i = 0; i < half; i++) step(first.scheduler, i);

      const second = make();
      second.scheduler.loadStateDict(JSON.parse(JSON.stringify(first.scheduler.stateDict())));
      second.optimizer.loadStateDict(first.optimizer.stateDict());
      for (let i = half; i < c.lrs.length - 1; i++) {
        step(first.scheduler, i);
        step(second.scheduler, i);
        expect(second.optimizer.paramGroups.map((g) => g.lr)).toEqual(
          first.optimizer.paramGroups.map((g) => g.lr),
        );
      }
    },
  );
});

describe('gradient clipping against PyTorch', () => {
  const withGrads = () =>
    fixture.clip.grads.map((g) => {
      const p = zeros(g.shape, { requiresGrad: true });
      p.grad = load(g);
      return p;
    });

  it.each(fixture.clip.cases.map((c) => [JSON.stringify({ ...c, clipped: undefined }), c]))(
    '%s',
    (_name, c) => {
      const params = withGrads();
      if (c.kind === 'norm') {
        const normType = c.normType === 'inf' ? Infinity : c.normType;
        const total = clipGradNorm_(params, c.maxNorm!, { normType });
        expectClose([total], [c.total!], 'total norm');
      } else {
        clipGradValue_(params, c.clipValue!);
      }
      params.forEach((p, i) => expectClose(p.grad!.data, c.clipped[i], `gradient ${i}`));
    },
  );
});

describe('initialisation against PyTorch', () => {
  it('gains and fans are PyTorch’s', () => {
    for (const [name, gain] of Object.entries(fixture.init.gains)) {
      const [nonlinearity, param] = name.split(' ');
      const ours = init.calculateGain(
        nonlinearity as init.Nonlinearity,
        param === undefined ? undefined : Number(param),
      );
      expect(ours, name).toBeCloseTo(gain, 12);
    }
    for (const [shape, fans] of Object.entries(fixture.init.fans)) {
      expect(init.calculateFanInAndFanOut(zeros(JSON.parse(shape)))).toEqual(fans);
    }
  });

  it.each(fixture.init.schemes.map((c) => [`${c.name} ${JSON.stringify(c.options)}`, c]))(
    '%s: the same distribution (bounds, mean and standard deviation of 32,768 draws)',
    (_name, c) => {
      manualSeed(5);
      const t = zeros(c.shape);
      const o = c.options as Record<string, never>;
      const f = init as unknown as Record<string, (...args: unknown[]) => Tensor>;
      if (c.name.startsWith('kaiming')) f[c.name](t, o);
      else if (c.name === 'normal_') f[c.name](t, o.mean, o.std);
      else if (c.name === 'uniform_') f[c.name](t, o.a, o.b);
      else f[c.name](t, o.gain);

      let sum = 0;
      let sq = 0;
      let min = Infinity;
      let max = -Infinity;
      for (const v of t.data) {
        sum += v;
        sq += v * v;
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
      const n = t.numel;
      const mean = sum / n;
      const std = Math.sqrt((sq - n * mean * mean) / (n - 1));
      // Both are samples of 32,768: the standard deviations agree to about 1% (4 standard
      // errors), the means to 4 standard errors of the mean.
      expect(Math.abs(std - c.std) / c.std, 'std').toBeLessThan(0.02);
      expect(Math.abs(mean - c.mean), 'mean').toBeLessThan((4 * c.std) / Math.sqrt(n) + 1e-12);
      if (c.name.includes('niform')) {
        // Uniform schemes: the same bounds, within one draw's spacing.
        const width = c.max - c.min;
        expect(Math.abs(min - c.min)).toBeLessThan(width * 1e-3);
        expect(Math.abs(max - c.max)).toBeLessThan(width * 1e-3);
      }
    },
  );
});
