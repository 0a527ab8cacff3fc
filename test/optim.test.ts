import { afterAll, describe, expect, it, vi } from 'vitest';
import { getBackend, nativeBackend, referenceBackend, setBackend } from '../lib/backend';
import { Adam, AdamW, SGD, type OptimizerStateDict } from '../lib/optim';
import { tensor, type Tensor } from '../lib/tensor';

const initial = getBackend().name;
const backends = nativeBackend() === null ? ['reference'] : ['reference', 'native'];
afterAll(() => setBackend(initial));

/** Runs `steps` updates with the same gradient each time and records the weights after each. */
function trajectory(
  makeOptimizer: (w: Tensor) => { step(): void; zeroGrad(): void },
  grad: number[],
  w0: number[],
  steps = 3,
): number[][] {
  const w = tensor(w0, { requiresGrad: true });
  const opt = makeOptimizer(w);
  const out: number[][] = [];
  for (let s = 0; s < steps; s++) {
    opt.zeroGrad();
    w.grad = tensor(grad);
    opt.step();
    out.push(Array.from(w.data));
  }
  return out;
}

function expectClose(actual: number[][], expected: number[][], digits = 6): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(expected[i][j], digits)));
}

describe.each(backends)('optimizers on the %s backend', (name) => {
  const use = () => setBackend(name as 'native' | 'reference');

  it('SGD without momentum steps by lr * grad: 1 -> 0.8, 0.6, 0.4', () => {
    use();
    const w = trajectory((p) => new SGD([p], { lr: 0.1 }), [2, -1], [1, 0]);
    expectClose(w, [
      [0.8, 0.1],
      [0.6, 0.2],
      [0.4, 0.3],
    ]);
  });

  it('SGD with momentum 0.9 starts the buffer at the gradient: 0.9, 0.71, 0.439', () => {
    use();
    // buf = 1, 1.9, 2.71; w -= 0.1 * buf
    const w = trajectory((p) => new SGD([p], { lr: 0.1, momentum: 0.9 }), [1], [1]);
    expectClose(w, [[0.9], [0.71], [0.439]]);
  });

  it('SGD dampening scales the new gradient after the first step: 0.9, 0.76, 0.584', () => {
    use();
    // buf = 1 (no dampening on the first step), 0.9 + 0.5 = 1.4, 1.26 + 0.5 = 1.76
    const w = trajectory((p) => new SGD([p], { lr: 0.1, momentum: 0.9, dampening: 0.5 }), [1], [1]);
    expectClose(w, [[0.9], [0.76], [0.584]]);
  });

  it('SGD nesterov steps by g + momentum * buf: 0.81, 0.539, 0.1951', () => {
    use();
    // buf = 1, 1.9, 2.71; step = 1.9, 2.71, 3.439 times lr
    const w = trajectory((p) => new SGD([p], { lr: 0.1, momentum: 0.9, nesterov: true }), [1], [1]);
    expectClose(w, [[0.81], [0.539], [0.1951]]);
  });

  it('SGD weight decay adds wd * w to the gradient, with and without momentum', () => {
    use();
    const plain = trajectory((p) => new SGD([p], { lr: 0.1, weightDecay: 0.1 }), [0], [1]);
    expectClose(plain, [[0.99], [0.9801], [0.970299]]);
    // g = 1.1, 1.089, 1.06821; buf = 1.1, 2.079, 2.93931
    const heavy = trajectory(
      (p) => new SGD([p], { lr: 0.1, momentum: 0.9, weightDecay: 0.1 }),
      [1],
      [1],
    );
    expectClose(heavy, [[0.89], [0.6821], [0.388169]]);
  });

  it('Adam with lr 0.1 on loss = w from w = 1 gives 0.9, 0.8, 0.7', () => {
    use();
    const w = tensor([1], { requiresGrad: true });
    const opt = new Adam([w], { lr: 0.1 });
    const seen: number[] = [];
    for (let s = 0; s < 3; s++) {
      opt.zeroGrad();
      w.sum().backward();
      opt.step();
      seen.push(w.data[0]);
    }
    expect(seen[0]).toBeCloseTo(0.9, 6);
    expect(seen[1]).toBeCloseTo(0.8, 6);
    expect(seen[2]).toBeCloseTo(0.7, 6);
  });

  it('Adam adds weightDecay * w to the gradient; AdamW decays the weight itself', () => {
    use();
    // Adam, g = 0 + 0.5 * 1: the normalised step is still lr, so w = 1 - 0.1.
    const adam = trajectory((p) => new Adam([p], { lr: 0.1, weightDecay: 0.5 }), [0], [1], 1);
    expectClose(adam, [[0.9]]);
    // AdamW with lr 0.1, weight decay 0.01 and a zero gradient takes w = 1 to 0.999.
    const adamw = trajectory((p) => new AdamW([p], { lr: 0.1, weightDecay: 0.01 }), [0], [1], 1);
    expectClose(adamw, [[0.999]], 7);
  });

  it('AdamW defaults to weightDecay 0.01 and applies it before the Adam step', () => {
    use();
    // Step 1: w = 2 * (1 - 0.1 * 0.01) - 0.1 * 1 = 1.998 - 0.1.
    const w = trajectory((p) => new AdamW([p], { lr: 0.1 }), [3], [2], 1);
    expectClose(w, [[1.898]]);
  });
});

describe('optimizer mechanics', () => {
  it('skips parameters whose grad is null and keeps no state for them', () => {
    const a = tensor([1, 2], { requiresGrad: true });
    const b = tensor([3], { requiresGrad: true });
    const opt = new SGD([a, b], { lr: 0.5, momentum: 0.9 });
    a.grad = tensor([1, 1]);
    opt.step();
    expect(Array.from(a.data)).toEqual([0.5, 1.5]);
    expect(Array.from(b.data)).toEqual([3]);
    const dict = opt.stateDict();
    expect(Object.keys(dict.state)).toEqual(['0']);
    expect(dict.state[0].step).toBe(1);
    expect(Array.from(dict.state[0].momentumBuffer as Float32Array)).toEqual([1, 1]);
  });

  it('updates each parameter with one backend kernel call', () => {
    setBackend('reference');
    const sgd = vi.spyOn(referenceBackend, 'sgdStep');
    const adam = vi.spyOn(referenceBackend, 'adamStep');
    const a = tensor([1, 2, 3], { requiresGrad: true });
    const b = tensor([4], { requiresGrad: true });
    a.grad = tensor([1, 1, 1]);
    b.grad = tensor([1]);
    new SGD([a, b], { lr: 0.1 }).step();
    new Adam([a, b]).step();
    expect(sgd).toHaveBeenCalledTimes(2);
    expect(adam).toHaveBeenCalledTimes(2);
    expect(adam.mock.calls[0][0]).toBe(a.data);
    expect(adam.mock.calls[0][5]).toMatchObject({ step: 1, decoupled: false, beta2: 0.999 });
    sgd.mockRestore();
    adam.mockRestore();
  });

  it('zeroGrad sets every gradient to null', () => {
    const a = tensor([1], { requiresGrad: true });
    const opt = new Adam([a]);
    a.grad = tensor([1]);
    opt.zeroGrad();
    expect(a.grad).toBeNull();
  });

  it('updates float64 parameters (on the reference backend) in double precision', () => {
    const w = tensor([1], { dtype: 'float64', requiresGrad: true });
    const opt = new SGD([w], { lr: 0.1 });
    w.grad = tensor([1e-9], { dtype: 'float64' });
    opt.step();
    expect(w.data[0]).toBe(1 - 1e-10);
    expect(opt.stateDict().state[0]).toEqual({ step: 1 });
  });

  it('gives each parameter group its own options and a mutable lr', () => {
    const a = tensor([1], { requiresGrad: true });
    const b = tensor([1], { requiresGrad: true });
    const opt = new SGD([{ params: [a] }, { params: [b], lr: 0.5 }], { lr: 0.1 });
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.1, 0.5]);
    a.grad = tensor([1]);
    b.grad = tensor([1]);
    opt.step();
    expect(a.data[0]).toBeCloseTo(0.9, 6);
    expect(b.data[0]).toBeCloseTo(0.5, 6);
    opt.paramGroups[0].lr = 0.01;
    opt.step();
    expect(a.data[0]).toBeCloseTo(0.89, 6);
  });

  it('rejects bad hyper-parameters with a RangeError naming the option', () => {
    const p = () => [tensor([1])];
    expect(() => new SGD(p(), { lr: -1 })).toThrow(
      new RangeError('SGD(lr): expected a finite number >= 0, received -1'),
    );
    expect(() => new SGD(p(), { lr: NaN })).toThrow(/SGD\(lr\): .*received NaN/);
    expect(() => new SGD(p(), { momentum: -0.5 })).toThrow(/SGD\(momentum\)/);
    expect(() => new SGD(p(), { weightDecay: Infinity })).toThrow(
      /SGD\(weightDecay\): expected a finite number >= 0, received Infinity/,
    );
    expect(() => new SGD(p(), { nesterov: true })).toThrow(
      /SGD\(nesterov\): expected momentum > 0 and dampening 0, received momentum 0/,
    );
    expect(() => new SGD(p(), { nesterov: 'yes' as unknown as boolean })).toThrow(
      new TypeError('SGD(nesterov): expected true or false, received "yes"'),
    );
    expect(() => new SGD(p(), { nesterov: true, momentum: 0.9, dampening: 0.1 })).toThrow(
      RangeError,
    );
    expect(() => new Adam(p(), { betas: [1, 0.999] })).toThrow(
      new RangeError('Adam(betas[0]): expected a finite number in [0, 1), received 1'),
    );
    expect(() => new AdamW(p(), { betas: [0.9, -0.1] })).toThrow(/AdamW\(betas\[1\]\)/);
    expect(() => new Adam(p(), { eps: -1e-8 })).toThrow(/Adam\(eps\)/);
    expect(() => new Adam(p(), { lr: 'fast' as unknown as number })).toThrow(TypeError);
    expect(() => new Adam(p(), { lr: 'fast' as unknown as number })).toThrow(
      new TypeError('Adam(lr): expected a finite number >= 0, received "fast"'),
    );
    expect(() => new Adam(p(), { betas: [0.9] as unknown as [number, number] })).toThrow(
      new RangeError('Adam(betas): expected two numbers [beta1, beta2], received [0.9]'),
    );
    expect(() => new SGD(p(), { lr: 0.1, mommentum: 0.9 } as object)).toThrow(/"mommentum"/);
    expect(() => new SGD(p(), { lr: 0.1, mommentum: 0.9 } as object)).toThrow(
      /^SGD\(options\): expected options among lr, momentum, .*, received "mommentum"$/,
    );
  });

  it('checks a learning rate changed between steps', () => {
    const w = tensor([1], { requiresGrad: true });
    const opt = new SGD([w], { lr: 0.1 });
    w.grad = tensor([1]);
    opt.paramGroups[0].lr = -0.1;
    expect(() => opt.step()).toThrow(
      new RangeError('SGD(paramGroups[0].lr): expected a finite number >= 0, received -0.1'),
    );
    expect(w.data[0]).toBe(1);
  });

  it('names the group of a bad group option', () => {
    const [a, b] = [tensor([1]), tensor([2])];
    expect(() => new SGD([{ params: [a] }, { params: [b], lr: -1 }])).toThrow(
      new RangeError('SGD(params[1].lr): expected a finite number >= 0, received -1'),
    );
    const opt = new Adam([a]);
    expect(() => opt.addParamGroup({ params: [b], betas: [0.9, 2] })).toThrow(
      new RangeError(
        'Adam.addParamGroup(group.betas[1]): expected a finite number in [0, 1), received 2',
      ),
    );
    expect(() => opt.addParamGroup({ params: [1 as unknown as Tensor] })).toThrow(
      new TypeError('Adam.addParamGroup(group.params[0]): expected a Tensor, received 1'),
    );
  });

  it('rejects no parameters, non-tensors and a parameter in two groups', () => {
    const w = tensor([1]);
    expect(() => new SGD([])).toThrow(/SGD\(params\): expected at least one parameter/);
    expect(() => new SGD([1 as unknown as Tensor])).toThrow(TypeError);
    expect(() => new SGD([{ params: [w] }, { params: [w] }])).toThrow(
      /expected each parameter in only one group/,
    );
    expect(() => new SGD([{ params: [w] }, { params: [w] }])).toThrow(
      new RangeError(
        'SGD(params[1].params[0]): expected each parameter in only one group, ' +
          'received a parameter that is already in a group',
      ),
    );
  });

  it('rejects a gradient whose size differs from its parameter', () => {
    const w = tensor([1, 2], { requiresGrad: true });
    const opt = new SGD([w], { lr: 0.1 });
    w.grad = tensor([1, 2, 3]);
    expect(() => opt.step()).toThrow(
      /SGD.step\(\): gradient of a parameter of shape \[2\]: expected 2 float32 values, received 3/,
    );
  });
});

describe('optimizer state dicts', () => {
  const grads = [
    [0.5, -1, 2],
    [1, 0.25, -0.75],
    [-2, 1.5, 0.5],
    [0.1, 0.2, 0.3],
  ];

  function run(w: Tensor, opt: { step(): void }, from: number, to: number): void {
    for (let s = from; s < to; s++) {
      w.grad = tensor(grads[s]);
      opt.step();
    }
  }

  it.each([
    ['SGD', (p: Tensor) => new SGD([p], { lr: 0.1, momentum: 0.9, nesterov: true })],
    ['Adam', (p: Tensor) => new Adam([p], { lr: 0.05 })],
    ['AdamW', (p: Tensor) => new AdamW([p], { lr: 0.05, weightDecay: 0.1 })],
  ])('%s continues identically after a stateDict round trip', (_name, make) => {
    const w = tensor([1, -1, 0.5], { requiresGrad: true });
    const opt = make(w);
    run(w, opt, 0, 2);
    const saved: OptimizerStateDict = opt.stateDict();
    const wSaved = w.clone();
    run(w, opt, 2, 4);

    const w2 = tensor(wSaved.data, { requiresGrad: true });
    const opt2 = make(w2);
    opt2.loadStateDict(saved);
    run(w2, opt2, 2, 4);
    expect(Array.from(w2.data)).toEqual(Array.from(w.data));
    expect(opt2.stateDict()).toEqual(opt.stateDict());
  });

  it('holds step counts, Float32Array moments and group options, as copies', () => {
    const w = tensor([1, 2], { requiresGrad: true });
    const opt = new Adam([w], { lr: 0.1, betas: [0.8, 0.9] });
    w.grad = tensor([1, -1]);
    opt.step();
    const dict = opt.stateDict();
    expect(dict.paramGroups).toEqual([
      { lr: 0.1, betas: [0.8, 0.9], eps: 1e-8, weightDecay: 0, params: [0] },
    ]);
    const entry = dict.state[0];
    expect(entry.step).toBe(1);
    expect(entry.expAvg).toBeInstanceOf(Float32Array);
    // m = (1 - 0.8) * g, v = (1 - 0.9) * g^2
    expect(Array.from(entry.expAvg as Float32Array)).toEqual([Math.fround(0.2), Math.fround(-0.2)]);
    expect(Array.from(entry.expAvgSq as Float32Array)).toEqual([
      Math.fround(0.1),
      Math.fround(0.1),
    ]);
    opt.step();
    expect(entry.step).toBe(1);
    expect((entry.expAvg as Float32Array)[0]).toBe(Math.fround(0.2));
  });

  it('loads the group options (a saved lr) and rejects mismatched dicts', () => {
    const w = tensor([1, 2], { requiresGrad: true });
    const opt = new SGD([w], { lr: 0.1, momentum: 0.9 });
    w.grad = tensor([1, 1]);
    opt.step();
    const dict = opt.stateDict();
    dict.paramGroups[0].lr = 0.25;

    const other = new SGD([tensor([0, 0])], { lr: 1, momentum: 0.9 });
    other.loadStateDict(dict);
    expect(other.paramGroups[0].lr).toBe(0.25);

    const wrongGroups = { ...dict, paramGroups: [...dict.paramGroups, dict.paramGroups[0]] };
    expect(() => other.loadStateDict(wrongGroups)).toThrow(
      /SGD.loadStateDict\(paramGroups\): expected 1 groups, received 2/,
    );
    const badLr = { ...dict, paramGroups: [{ ...dict.paramGroups[0], lr: -1 }] };
    expect(() => other.loadStateDict(badLr)).toThrow(
      new RangeError(
        'SGD.loadStateDict(paramGroups[0].lr): expected a finite number >= 0, received -1',
      ),
    );
    const short = { ...dict, state: { 0: { step: 1, momentumBuffer: new Float32Array(3) } } };
    expect(() => other.loadStateDict(short)).toThrow(
      new RangeError(
        'SGD.loadStateDict(state[0].momentumBuffer): expected 2 values, received Float32Array(3)',
      ),
    );
    expect(other.paramGroups[0].lr).toBe(0.25);
  });
});
