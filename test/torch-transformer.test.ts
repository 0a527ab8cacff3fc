/**
 * The transformer layers against PyTorch: test/fixtures/torch-transformer.json holds what
 * PyTorch computed (tools/make-torch-fixtures-transformer.py) for LayerNorm, GELU,
 * MultiheadAttention and the pre-norm TransformerEncoderLayer. Each case loads PyTorch's state
 * dict by PyTorch's names (strictly: same keys, same shapes), replays the forward and backward
 * on the reference backend and on the native one at every SIMD level, and compares the output
 * and the gradient of every input and parameter.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { getBackend, nativeBackend, setBackend } from '../lib/backend';
import { GELU, LayerNorm, Module, MultiheadAttention, TransformerEncoderLayer } from '../lib/nn';
import type { AttentionMasks } from '../lib/nn';
import { Tensor, tensor } from '../lib/tensor';

interface Stored {
  shape: number[];
  data: (number | '-inf')[];
}

interface Case {
  name: string;
  config: Record<string, unknown>;
  state: Record<string, Stored>;
  inputs: Stored[];
  masks: { attnMask?: Stored; keyPaddingMask?: Stored };
  output: Stored;
  upstream: Stored;
  inputGrads: Stored[];
  paramGrads: Record<string, Stored>;
}

interface Fixture {
  torch: string;
  layerNorm: Case[];
  gelu: Case[];
  attention: Case[];
  block: Case[];
}

const fixture: Fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, 'fixtures', 'torch-transformer.json'), 'utf8'),
);

const numbers = (s: Stored) => s.data.map((v) => (v === '-inf' ? -Infinity : v));
const load = (s: Stored, requiresGrad = false) =>
  tensor(numbers(s), { shape: s.shape, requiresGrad });

/**
 * |actual - expected| <= 1e-5 (|expected| + max |expected|) over each tensor: 1e-5 relative to
 * the element or to the tensor's largest element, whichever is larger. The fixture is exact
 * (PyTorch in float64 from float32 inputs); nodegrad computes in float32, where an element that
 * is a sum of products which cancel (attention's key-bias gradient is exactly 0 in exact
 * arithmetic, a layer norm's input gradient sums to 0 per row) keeps the rounding error of its
 * terms, not of its value: PyTorch's own float32 result misses by as much
 * (tools/make-torch-fixtures-transformer.py prints that error for each case).
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

function masksOf(c: Case): AttentionMasks {
  return {
    attnMask: c.masks.attnMask ? load(c.masks.attnMask) : null,
    keyPaddingMask: c.masks.keyPaddingMask ? load(c.masks.keyPaddingMask) : null,
  };
}

/** nodegrad's module for a case, and how to run it on the case's inputs. */
function build(kind: keyof Omit<Fixture, 'torch'>, c: Case): [Module, (...xs: Tensor[]) => Tensor] {
  const o = c.config;
  if (kind === 'layerNorm') {
    const norm = new LayerNorm(o.normalizedShape as number[], {
      eps: o.eps as number,
      elementwiseAffine: o.elementwiseAffine as boolean,
    });
    return [norm, (x) => norm.forward(x)];
  }
  if (kind === 'gelu') {
    const gelu = new GELU(o.approximate as 'none' | 'tanh');
    return [gelu, (x) => gelu.forward(x)];
  }
  if (kind === 'attention') {
    const attn = new MultiheadAttention(o.embedDim as number, o.numHeads as number, {
      batchFirst: true,
    });
    const masks = masksOf(c);
    if (o.selfAttention) return [attn, (x) => attn.forward(x, x, x, masks)];
    return [attn, (q, k, v) => attn.forward(q, k, v, masks)];
  }
  const block = new TransformerEncoderLayer(o.dModel as number, o.nhead as number, {
    dimFeedforward: o.dimFeedforward as number,
    activation: 'gelu',
    batchFirst: true,
    normFirst: true,
  });
  return [block, (x) => block.forward(x, masksOf(c))];
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

const kinds = ['layerNorm', 'gelu', 'attention', 'block'] as const;
const allCases = kinds.flatMap((kind) => fixture[kind].map((c) => [kind, c] as const));

it('holds every layer of the transformer, with masks and a fully masked row', () => {
  expect(allCases.length).toBe(14);
  expect(fixture.attention.map((c) => c.name)).toContain('MHA fully masked row');
});

it.each(allCases.map(([kind, c]) => [c.name, kind, c] as const))(
  '%s: the state dict has PyTorch names and shapes, in its order',
  (_, kind, c) => {
    const [module] = build(kind, c);
    const ours = Object.entries(module.stateDict()).map(([k, t]) => [k, t.shape]);
    expect(ours).toEqual(Object.entries(c.state).map(([k, s]) => [k, s.shape]));
  },
);

describe.each(configurations)(`%s against PyTorch ${fixture.torch}`, (_, select) => {
  it.each(allCases.map(([kind, c]) => [c.name, kind, c] as const))(
    '%s: output and the gradients of every input and parameter',
    (__, kind, c) => {
      select();
      const [module, run] = build(kind, c);
      module.loadStateDict(
        Object.fromEntries(Object.entries(c.state).map(([k, s]) => [k, load(s)])),
      );
      const inputs = c.inputs.map((s) => load(s, true));
      const out = run(...inputs);
      expect(out.shape).toEqual(c.output.shape);
      expectClose(out.data, numbers(c.output), 'output');

      out.backward(load(c.upstream));
      inputs.forEach((x, i) =>
        expectClose(x.grad!.data, numbers(c.inputGrads[i]), `grad of input ${i}`),
      );
      for (const [name, p] of module.namedParameters()) {
        expectClose(p.grad!.data, numbers(c.paramGrads[name]), `grad of ${name}`);
      }
    },
  );
});
