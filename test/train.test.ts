import { afterEach, describe, expect, it, vi } from 'vitest';

import { getBackend, nativeBackend, setBackend } from '../lib/backend';
import type { BackendName } from '../lib/backend';
import { DataLoader, TensorDataset, mnist } from '../lib/data';
import { Linear, MSELoss, Module, ReLU, Sequential, crossEntropy } from '../lib/nn';
import { SGD } from '../lib/optim';
import { Tensor, manualSeed, randn, tensor } from '../lib/tensor';
import { evaluate, fit } from '../lib/train';
import type { BatchSource, EpochLogs, LossFn } from '../lib/train';

const backends: BackendName[] = nativeBackend() === null ? ['reference'] : ['reference', 'native'];
const initialBackend = getBackend().name;

afterEach(() => setBackend(initialBackend));

/** 40 points in 4-D, labelled by the sign of their first coordinate, in batches of 4. */
function toyLoader(): DataLoader<[Tensor, number], [Tensor, Int32Array]> {
  manualSeed(3);
  const x = randn([40, 4]);
  const y = Int32Array.from({ length: 40 }, (_, i) => (x.data[4 * i] > 0 ? 1 : 0));
  return new DataLoader(new TensorDataset(x, y), { batchSize: 4 });
}

function toyModel(): Sequential {
  manualSeed(4);
  return new Sequential(new Linear(4, 8), new ReLU(), new Linear(8, 2));
}

function snapshot(model: Module): number[][] {
  return model.parameters().map((p) => Array.from(p.data));
}

describe.each(backends)('fit on the %s backend', (backend) => {
  it('learns the digits: 2,000 training digits, 2 epochs, > 80% on 500 held out', async () => {
    setBackend(backend);
    const train = mnist({ split: 'train' });
    const test = mnist({ split: 'test' });
    const trainSet = new TensorDataset(
      new Tensor(train.images.data.slice(0, 2000 * 784), [2000, 784]),
      train.labels.slice(0, 2000),
    );
    const testSet = new TensorDataset(
      new Tensor(test.images.data.slice(0, 500 * 784), [500, 784]),
      test.labels.slice(0, 500),
    );
    manualSeed(0);
    const model = new Sequential(new Linear(784, 128), new ReLU(), new Linear(128, 10));
    const epochEnds: EpochLogs[] = [];

    const started = performance.now();
    const history = await fit(model, new DataLoader(trainSet, { batchSize: 32, shuffle: true }), {
      epochs: 2,
      optimizer: new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 }),
      loss: crossEntropy,
      metrics: ['accuracy'],
      validation: new DataLoader(testSet, { batchSize: 250 }),
      callbacks: { onEpochEnd: (_epoch, logs) => void epochEnds.push(logs) },
      progress: false,
    });
    const seconds = (performance.now() - started) / 1000;

    expect(history.epochs).toHaveLength(2);
    expect(epochEnds).toEqual(history.epochs);
    const [first, last] = history.epochs;
    expect(last.loss).toBeLessThan(first.loss);
    expect(last.accuracy).toBeGreaterThan(0.8);
    expect(last.valAccuracy).toBeGreaterThan(0.8);
    expect(last.samples).toBe(2000);
    expect(last.batches).toBe(63);
    expect(last.samplesPerSec).toBeGreaterThan(0);
    expect(seconds).toBeLessThan(backend === 'native' ? 5 : 20);

    // The validation numbers are what evaluate reports for the final weights.
    const final = await evaluate(model, new DataLoader(testSet, { batchSize: 100 }), crossEntropy);
    expect(final.accuracy).toBe(last.valAccuracy);
    expect(final.loss).toBeCloseTo(last.valLoss!, 5);
  }, 60_000);
});

describe('fit', () => {
  it('stops at the next batch boundary when aborted, leaving the model usable', async () => {
    const model = toyModel();
    const controller = new AbortController();
    const steps: number[] = [];
    let afterStep2: number[][] = [];

    const run = fit(model, toyLoader(), {
      epochs: 5,
      optimizer: new SGD(model.parameters(), { lr: 0.1 }),
      loss: crossEntropy,
      signal: controller.signal,
      callbacks: {
        onBatchEnd: (step) => {
          steps.push(step);
          if (step === 2) {
            afterStep2 = snapshot(model);
            controller.abort();
          }
        },
      },
    });

    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(steps).toEqual([0, 1, 2]);
    expect(snapshot(model)).toEqual(afterStep2);
    const { loss } = await evaluate(model, toyLoader(), crossEntropy); // still usable
    expect(loss).toBeGreaterThan(0);
    expect(Number.isFinite(loss)).toBe(true);
    expect(model.training).toBe(true);
  });

  it('rejects with the reason the caller gave; does not start on an aborted signal', async () => {
    const model = toyModel();
    const before = snapshot(model);
    const options = {
      epochs: 1,
      optimizer: new SGD(model.parameters(), { lr: 0.1 }),
      loss: crossEntropy,
    };
    const reason = new Error('user cancelled');
    await expect(
      fit(model, toyLoader(), { ...options, signal: AbortSignal.abort(reason) }),
    ).rejects.toBe(reason);
    expect(snapshot(model)).toEqual(before);
  });

  it('can be aborted from a timer while it trains, because it yields', async () => {
    const model = toyModel();
    const controller = new AbortController();
    let batches = 0;
    setTimeout(() => controller.abort(), 30);
    const run = fit(model, toyLoader(), {
      epochs: 100_000,
      optimizer: new SGD(model.parameters(), { lr: 0.01 }),
      loss: crossEntropy,
      signal: controller.signal,
      callbacks: { onBatchEnd: () => void batches++ },
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(batches).toBeGreaterThan(0);
    expect(batches).toBeLessThan(100_000 * 10);
  });

  it('lets a setImmediate callback run between batches, every yieldEvery batches', async () => {
    for (const yieldEvery of [1, 4]) {
      const model = toyModel();
      let batches = 0;
      const seenByCallback: number[] = [];
      const watch = () => {
        seenByCallback.push(batches);
        if (batches < 10) setImmediate(watch);
      };
      setImmediate(watch);
      await fit(model, toyLoader(), {
        epochs: 1,
        optimizer: new SGD(model.parameters(), { lr: 0.1 }),
        loss: crossEntropy,
        yieldEvery,
        callbacks: { onBatchEnd: () => void batches++ },
      });
      // The callback first runs after the first yield, then once per yield.
      expect(seenByCallback.slice(0, 2)).toEqual([yieldEvery, 2 * yieldEvery]);
    }
  });

  it('stops with an error naming the epoch and step on a NaN loss, before updating', async () => {
    const model = toyModel();
    let calls = 0;
    let afterStep: number[][] = [];
    const run = fit(model, toyLoader(), {
      epochs: 2,
      optimizer: new SGD(model.parameters(), { lr: 0.1 }),
      loss: (output, target) => {
        calls++;
        const loss = crossEntropy(output, target);
        return calls === 13 ? loss.mul(NaN) : loss;
      },
      callbacks: { onBatchEnd: () => void (afterStep = snapshot(model)) },
    });
    await expect(run).rejects.toThrow(
      new RangeError('fit: at epoch 2 of 2, step 3: expected a finite loss, received NaN'),
    );
    expect(snapshot(model)).toEqual(afterStep);
  });

  it('stops when a too-large learning rate makes the loss overflow', async () => {
    manualSeed(5);
    const x = randn([64, 4]).mul(100);
    const y = randn([64, 1]);
    const model = new Sequential(new Linear(4, 1));
    const run = fit(model, new DataLoader(new TensorDataset(x, y), { batchSize: 8 }), {
      epochs: 50,
      optimizer: new SGD(model.parameters(), { lr: 1 }),
      loss: new MSELoss(),
    });
    await expect(run).rejects.toThrow(/^fit: at epoch \d+ of 50, step \d+: expected a finite loss/);
  });

  it('rejects an empty training loader', async () => {
    const model = toyModel();
    const options = {
      epochs: 1,
      optimizer: new SGD(model.parameters(), { lr: 0.1 }),
      loss: crossEntropy,
    };
    const message = 'fit: expected a training loader with at least one batch, received none';
    await expect(fit(model, [], options)).rejects.toThrow(new RangeError(message));

    // Three samples, batches of four, last partial batch dropped: no batch at all.
    const three = new TensorDataset(randn([3, 4]), new Int32Array([0, 1, 0]));
    const empty = new DataLoader(three, { batchSize: 4, dropLast: true });
    await expect(fit(model, empty, options)).rejects.toThrow(message);
  });

  it('says a one-shot generator ran dry after the first epoch', async () => {
    const model = toyModel();
    const batches = [...toyLoader()];
    async function* once() {
      yield* batches;
    }
    const options = {
      epochs: 2,
      optimizer: new SGD(model.parameters(), { lr: 0.1 }),
      loss: crossEntropy,
    };
    await expect(fit(model, once(), options)).rejects.toThrow(
      /received none in epoch 2 \(a generator runs once: pass a DataLoader or an array/,
    );
  });

  it('reports validation accuracy only when the accuracy metric is asked for', async () => {
    const model = toyModel();
    const optimizer = new SGD(model.parameters(), { lr: 0.1 });
    const common = { epochs: 1, optimizer, loss: crossEntropy, validation: toyLoader() };
    const [plain] = (await fit(model, toyLoader(), common)).epochs;
    expect(plain.valLoss).toBeGreaterThan(0);
    expect(plain.valAccuracy).toBeUndefined();
    expect(plain.accuracy).toBeUndefined();
    const [tracked] = (await fit(model, toyLoader(), { ...common, metrics: ['accuracy'] })).epochs;
    expect(tracked.valAccuracy).toBeGreaterThan(0.5);
  });

  it('checks its options', async () => {
    const model = toyModel();
    const optimizer = new SGD(model.parameters(), { lr: 0.1 });
    const loss = crossEntropy;
    await expect(fit(model, toyLoader(), { epochs: 0, optimizer, loss })).rejects.toThrow(
      'fit(epochs): expected an integer >= 1, received 0',
    );
    await expect(
      fit(model, toyLoader(), { epochs: 1, optimizer: {} as SGD, loss }),
    ).rejects.toThrow(TypeError);
    await expect(
      fit(model, toyLoader(), { epochs: 1, optimizer, loss, metrics: ['f1' as 'accuracy'] }),
    ).rejects.toThrow('fit(metrics[0]): expected \'accuracy\', received "f1"');
    await expect(
      fit(model, 42 as unknown as BatchSource, { epochs: 1, optimizer, loss }),
    ).rejects.toThrow(
      'fit(trainLoader): expected an iterable of [input, target] batches, received 42',
    );
    await expect(
      fit(model, toyLoader(), { epochs: 1, optimizer, loss: (out) => out }),
    ).rejects.toThrow('fit(loss): expected a one-element Tensor, received shape [4, 2]');
    await expect(
      fit(model, toyLoader(), { epochs: 1, optimizer, loss: 'mse' as unknown as LossFn }),
    ).rejects.toThrow(
      new TypeError(
        'fit(loss): expected a function (output, target) => Tensor or a loss Module, ' +
          'received "mse"',
      ),
    );
  });

  it('accepts arrays and async generators of batches and one-hot targets', async () => {
    const model = toyModel();
    const x = tensor([
      [1, 0, 0, 0],
      [-1, 0, 0, 0],
    ]);
    const oneHot = tensor([
      [0, 1],
      [1, 0],
    ]);
    async function* batches() {
      yield [x, new Int32Array([1, 0])] as const;
    }
    const options = {
      epochs: 10,
      optimizer: new SGD(model.parameters(), { lr: 0.1 }),
      loss: crossEntropy,
      metrics: ['accuracy' as const],
    };
    const fromArray = await fit(model, [[x, new Int32Array([1, 0])]], options);
    const fromGenerator = await fit(model, { [Symbol.asyncIterator]: batches }, options);
    expect(fromArray.epochs).toHaveLength(10);
    expect(fromGenerator.epochs).toHaveLength(10);
    const withLabels = await evaluate(model, [[x, new Int32Array([1, 0])]], crossEntropy);
    const withOneHot = await evaluate(model, [[x, oneHot]], (out, t) =>
      out
        .logSoftmax(1)
        .mul(t as Tensor)
        .sum()
        .neg(),
    );
    expect(withLabels.accuracy).toBe(1);
    expect(withOneHot.accuracy).toBe(1);
    expect(withOneHot.loss).toBeCloseTo(2 * withLabels.loss, 5);
  });

  it('shows a progress bar on stderr only when asked', async () => {
    const writes: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      writes.push(String(chunk));
      return true;
    });
    try {
      const model = toyModel();
      const options = {
        epochs: 1,
        optimizer: new SGD(model.parameters(), { lr: 0.1 }),
        loss: crossEntropy,
        metrics: ['accuracy' as const],
      };
      await fit(model, toyLoader(), { ...options, progress: false });
      expect(writes.join('')).toBe('');
      await fit(model, toyLoader(), { ...options, progress: true });
    } finally {
      spy.mockRestore();
    }
    const output = writes.join('');
    expect(output).toContain('epoch 1/1');
    expect(output).toContain('10/10');
    expect(output).toMatch(/loss \d\.\d{4}/);
    expect(output).toMatch(/acc \d+\.\d%/);
    expect(output).toMatch(/[\d,]+ samples\/s/);
  });
});

describe('evaluate', () => {
  it('computes the sample-weighted loss and accuracy in eval mode without gradients', async () => {
    const model = toyModel();
    const loader = toyLoader();
    model.train();
    const result = await evaluate(model, loader, crossEntropy);

    // The same numbers by hand over the whole set at once.
    const x = new Tensor(
      Float32Array.from([...loader].flatMap(([xb]) => Array.from(xb.data))),
      [40, 4],
    );
    const y = Int32Array.from([...loader].flatMap(([, yb]) => Array.from(yb)));
    const output = model.forward(x);
    const predicted = output.argmax(1);
    expect(result.loss).toBeCloseTo(crossEntropy(output, y).item(), 5);
    expect(result.accuracy).toBe(predicted.filter((p, i) => p === y[i]).length / 40);
    expect(result.samples).toBe(40);
    expect(model.parameters().every((p) => p.grad === null)).toBe(true);
    expect(model.training).toBe(true);
  });

  it('rejects an empty loader', async () => {
    await expect(evaluate(toyModel(), [], crossEntropy)).rejects.toThrow(
      'evaluate: expected a loader with at least one batch, received none',
    );
  });
});
