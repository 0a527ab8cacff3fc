import { describe, expect, it } from 'vitest';

import { Tensor, manualSeed, tensor, zeros, randn } from '../lib/tensor';
import {
  BCELoss,
  BCEWithLogitsLoss,
  CrossEntropyLoss,
  Linear,
  MSELoss,
  Module,
  ReLU,
  Sequential,
  Sigmoid,
  Tanh,
  binaryCrossEntropy,
  binaryCrossEntropyWithLogits,
  crossEntropy,
  mseLoss,
} from '../lib/nn';

class Mlp extends Module {
  fc1 = new Linear(4, 3);
  act = new ReLU();
  fc2 = new Linear(3, 2);

  forward(x: Tensor): Tensor {
    return this.fc2.forward(this.act.forward(this.fc1.forward(x)));
  }
}

function mlp(): Sequential {
  return new Sequential(new Linear(784, 256), new ReLU(), new Linear(256, 10));
}

describe('Linear', () => {
  it('has PyTorch shapes and draws weight and bias from U(-1/sqrt(in), 1/sqrt(in))', () => {
    manualSeed(0);
    const fc = new Linear(784, 256);
    const bound = 1 / Math.sqrt(784);

    expect(fc.weight.shape).toEqual([256, 784]);
    expect(fc.bias?.shape).toEqual([256]);
    expect(fc.weight.dtype).toBe('float32');
    expect(fc.weight.requiresGrad).toBe(true);
    for (const p of [fc.weight, fc.bias!]) {
      const values = Array.from(p.data);
      const max = values.reduce((m, v) => Math.max(m, v), -Infinity);
      const min = values.reduce((m, v) => Math.min(m, v), Infinity);
      expect(max).toBeLessThanOrEqual(bound);
      expect(min).toBeGreaterThanOrEqual(-bound);
      expect(max).toBeGreaterThan(0.95 * bound);
      expect(min).toBeLessThan(-0.95 * bound);
    }

    // A uniform on [-b, b] has mean 0 and standard deviation b / sqrt(3).
    const w = Array.from(fc.weight.data);
    const mean = w.reduce((s, v) => s + v, 0) / w.length;
    const std = Math.sqrt(w.reduce((s, v) => s + (v - mean) ** 2, 0) / w.length);
    expect(Math.abs(mean)).toBeLessThan(0.01 * bound);
    expect(std).toBeCloseTo(bound / Math.sqrt(3), 4);
  });

  it('is reproducible from the seed and can leave out the bias', () => {
    manualSeed(7);
    const a = new Linear(5, 3);
    manualSeed(7);
    const b = new Linear(5, 3);
    expect(Array.from(a.weight.data)).toEqual(Array.from(b.weight.data));
    expect(Array.from(a.bias!.data)).toEqual(Array.from(b.bias!.data));

    const noBias = new Linear(5, 3, false);
    expect(noBias.bias).toBeNull();
    expect([...noBias.namedParameters()].map(([name]) => name)).toEqual(['weight']);
  });

  it('computes x W^T + b', () => {
    const fc = new Linear(3, 2);
    fc.weight.data.set([1, 2, 3, -1, 0, 1]);
    fc.bias!.data.set([0.5, -0.5]);
    const y = fc.forward(
      tensor([
        [1, 1, 1],
        [2, 0, -1],
      ]),
    );
    expect(y.shape).toEqual([2, 2]);
    expect(y.toArray()).toEqual([
      [6.5, -0.5],
      [-0.5, -3.5],
    ]);
  });

  it('names itself, the expected and the received shape when the input is wrong', () => {
    const fc = new Linear(784, 256);
    expect(() => fc.forward(zeros([32, 78]))).toThrow(
      new RangeError('Linear(784, 256): expected input of shape [*, 784], received [32, 78]'),
    );
    expect(() => fc.forward(zeros([2, 3, 78]))).toThrow(
      'Linear(784, 256): expected input of shape [*, 784], received [2, 3, 78]',
    );
    expect(() => fc.forward(zeros([]))).toThrow(
      'Linear(784, 256): expected input of shape [*, 784], received []',
    );
    expect(() => new Linear(0, 3)).toThrow(RangeError);
    expect(() => new Linear(2.5, 3)).toThrow(TypeError);
  });
});

describe('Module registration', () => {
  it('registers tensors made with param() and child modules in assignment order', () => {
    const model = new Mlp();
    expect([...model.namedParameters()].map(([name]) => name)).toEqual([
      'fc1.weight',
      'fc1.bias',
      'fc2.weight',
      'fc2.bias',
    ]);
    expect(model.parameters()).toEqual([
      model.fc1.weight,
      model.fc1.bias,
      model.fc2.weight,
      model.fc2.bias,
    ]);
    expect([...model.children()]).toEqual([model.fc1, model.act, model.fc2]);
    expect([...model.namedModules()].map(([name]) => name)).toEqual(['', 'fc1', 'act', 'fc2']);
  });

  it('does not register a plain tensor, and lists a shared parameter once', () => {
    class Tied extends Module {
      scale = tensor([2]);
      a = new Linear(2, 2);
      b = new Linear(2, 2);
      constructor() {
        super();
        this.b.weight = this.a.weight;
      }
      forward(x: Tensor): Tensor {
        return this.b.forward(this.a.forward(x)).mul(this.scale);
      }
    }
    const model = new Tied();
    expect([...model.namedParameters()].map(([name]) => name)).toEqual([
      'a.weight',
      'a.bias',
      'b.bias',
    ]);
    expect(Object.keys(model.stateDict())).toEqual(['a.weight', 'a.bias', 'b.weight', 'b.bias']);
  });

  it('saves a module used twice under both names, as PyTorch state_dict does', () => {
    const shared = new Linear(3, 3);
    const model = new Sequential(shared, new ReLU(), shared);
    expect(Object.keys(model.stateDict())).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    expect(model.parameters()).toEqual([shared.weight, shared.bias]);
    model.loadStateDict(model.stateDict()); // strict: every saved key has a home
  });

  it('supports explicit registerParameter and registerModule', () => {
    class Explicit extends Module {
      constructor() {
        super();
        this.registerParameter('gain', tensor([1, 1]));
        this.registerModule('inner', new Linear(2, 2));
      }
      forward(x: Tensor): Tensor {
        return x;
      }
    }
    const model = new Explicit();
    expect([...model.namedParameters()].map(([name]) => name)).toEqual([
      'gain',
      'inner.weight',
      'inner.bias',
    ]);
    expect(() => model.registerParameter('a.b', tensor([1]))).toThrow(
      new RangeError(
        'registerParameter(name): expected a non-empty name without dots, received "a.b"',
      ),
    );
    expect(() => model.registerParameter(7 as unknown as string, tensor([1]))).toThrow(TypeError);
    expect(() => model.registerModule('m', {} as Module)).toThrow(
      new TypeError('registerModule(module): expected a Module, received Object'),
    );
  });

  it('switches training mode on every descendant', () => {
    const model = new Mlp();
    expect(model.eval()).toBe(model);
    expect([...model.modules()].every((m) => !m.training)).toBe(true);
    model.train();
    expect([...model.modules()].every((m) => m.training)).toBe(true);
  });

  it('zeroGrad drops every gradient', () => {
    const model = new Mlp();
    model
      .forward(randn([5, 4]))
      .sum()
      .backward();
    expect(model.parameters().every((p) => p.grad !== null)).toBe(true);
    model.zeroGrad();
    expect(model.parameters().every((p) => p.grad === null)).toBe(true);
  });

  it('call() is forward', () => {
    const fc = new Linear(2, 1);
    const x = tensor([[1, 2]]);
    expect(fc.call(x).item()).toBe(fc.forward(x).item());
  });
});

describe('Sequential', () => {
  it("names its children '0', '1', ... and runs them in order", () => {
    manualSeed(1);
    const model = mlp();
    expect(Object.keys(model.stateDict())).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    expect(model.length).toBe(3);
    expect(model.at(1)).toBeInstanceOf(ReLU);
    expect(model.at(-1)).toBe(model.at(2));
    expect(() => model.at(3)).toThrow(RangeError);
    expect(() => model.at(3)).toThrow(
      new RangeError('Sequential.at(index): expected an integer in [-3, 2], received 3'),
    );
    expect(() => new Sequential(new ReLU(), 'relu' as unknown as Module)).toThrow(
      new TypeError('Sequential(argument 1): expected a Module, received "relu"'),
    );

    const x = randn([4, 784]);
    const fc1 = model.at(0) as Linear;
    const fc2 = model.at(2) as Linear;
    const manual = fc2.forward(fc1.forward(x).relu());
    expect(Array.from(model.forward(x).data)).toEqual(Array.from(manual.data));
  });

  it('numbers past 9 keep their order and nest with dots', () => {
    const layers = Array.from({ length: 12 }, () => new Tanh());
    layers[11] = new Sequential(new Linear(2, 2), new Sigmoid());
    const model = new Sequential(...layers);
    expect(Object.keys(model.stateDict())).toEqual(['11.0.weight', '11.0.bias']);
  });

  it('prints like PyTorch', () => {
    const model = new Sequential(new Linear(2, 3), new ReLU());
    expect(String(model)).toBe(
      'Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=true)\n  (1): ReLU()\n)',
    );
  });
});

describe('stateDict and loadStateDict', () => {
  it('round-trips weights into another model, in place', () => {
    manualSeed(1);
    const source = mlp();
    manualSeed(2);
    const target = mlp();
    const weightBefore = (target.at(0) as Linear).weight;
    const x = randn([3, 784]);
    expect(Array.from(target.forward(x).data)).not.toEqual(Array.from(source.forward(x).data));

    const result = target.loadStateDict(source.stateDict());
    expect(result).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect((target.at(0) as Linear).weight).toBe(weightBefore);
    expect(Array.from(target.forward(x).data)).toEqual(Array.from(source.forward(x).data));
  });

  it('stateDict shares the parameters data without their graph', () => {
    const fc = new Linear(2, 2);
    const dict = fc.stateDict();
    expect(dict.weight.data).toBe(fc.weight.data);
    expect(dict.weight.requiresGrad).toBe(false);
  });

  it('names the key, the expected and the received shape on a mismatch, and copies nothing', () => {
    class Net extends Module {
      fc1 = new Linear(784, 256);
      forward(x: Tensor): Tensor {
        return this.fc1.forward(x);
      }
    }
    const model = new Net();
    const before = Array.from(model.fc1.bias!.data);
    const dict = { 'fc1.weight': zeros([10, 784]), 'fc1.bias': zeros([256]) };
    expect(() => model.loadStateDict(dict)).toThrow(
      new RangeError('loadStateDict(fc1.weight): expected shape [256, 784], received [10, 784]'),
    );
    expect(Array.from(model.fc1.bias!.data)).toEqual(before);
  });

  it('names missing and unexpected keys unless strict is false', () => {
    const model = mlp();
    const dict = model.stateDict();
    delete dict['2.bias'];
    dict['3.weight'] = zeros([1]);
    expect(() => model.loadStateDict(dict)).toThrow(
      new RangeError('loadStateDict: missing keys 2.bias; unexpected keys 3.weight'),
    );
    expect(model.loadStateDict(dict, { strict: false })).toEqual({
      missingKeys: ['2.bias'],
      unexpectedKeys: ['3.weight'],
    });
    expect(() => model.loadStateDict({ '0.weight': [1, 2] } as never, { strict: false })).toThrow(
      TypeError,
    );
    expect(() => model.loadStateDict({ '0.weight': [1, 2] } as never, { strict: false })).toThrow(
      new TypeError('loadStateDict(0.weight): expected a Tensor, received [1, 2]'),
    );
  });
});

describe('loss modules', () => {
  it('compute the functional losses', () => {
    const p = tensor([
      [0.2, 0.9],
      [0.6, 0.1],
    ]);
    const y = tensor([
      [0, 1],
      [1, 0],
    ]);
    expect(new MSELoss().forward(p, y).item()).toBeCloseTo(mseLoss(p, y).item(), 6);
    expect(new MSELoss({ reduction: 'sum' }).forward(p, y).item()).toBeCloseTo(0.22, 6);
    expect(new BCELoss().forward(p, y).item()).toBeCloseTo(binaryCrossEntropy(p, y).item(), 6);
    expect(new BCEWithLogitsLoss().forward(p, y).item()).toBeCloseTo(
      binaryCrossEntropyWithLogits(p, y).item(),
      6,
    );
    const labels = new Int32Array([1, 0]);
    expect(new CrossEntropyLoss().forward(p, labels).item()).toBeCloseTo(
      crossEntropy(p, labels).item(),
      6,
    );
    // -log softmax([0.2, 0.9])[1] and -log softmax([0.6, 0.1])[0], averaged.
    const expected = (Math.log(1 + Math.exp(-0.7)) + Math.log(1 + Math.exp(-0.5))) / 2;
    expect(new CrossEntropyLoss().forward(p, labels).item()).toBeCloseTo(expected, 6);
    expect(() => new MSELoss({ reduction: 'avg' as never })).toThrow(
      new RangeError(`MSELoss(reduction): expected 'mean', 'sum' or 'none', received "avg"`),
    );
    expect(() => new MSELoss({ reduction: 1 as never })).toThrow(TypeError);
  });
});
